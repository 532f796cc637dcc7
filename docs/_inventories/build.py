"""Write the intersphinx inventories the documentation reads, without the network.

``python docs/_inventories/build.py`` writes python.inv, flask.inv, werkzeug.inv and
requests.inv beside this file, in Sphinx's inventory format (version 2, the format
``sphinx.util.inventory.InventoryFile.dump`` writes), then reads each back with
``InventoryFile.loads`` to check it. They hold only the names these pages refer to, each
pointing at its place in that project's published documentation (the base URL is in
docs/conf.py). When a page or a docstring refers to a new outside name, the build fails
on a broken reference: add the name to :data:`INVENTORIES` and run this script again.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from sphinx.util.inventory import InventoryFile

HERE = Path(__file__).resolve().parent

# name, role, page (relative to the project's documentation root), display name or "-"
Entry = tuple[str, str, str, str]


def _python() -> list[Entry]:
    entries: list[Entry] = []
    for name in ("Callable", "Iterable", "Iterator", "Mapping", "Sequence"):
        entries.append((f"collections.abc.{name}", "py:class", "library/collections.abc.html", "-"))
    for name in ("str", "bytes", "dict", "list", "tuple", "frozenset"):
        entries.append((name, "py:class", "library/stdtypes.html", "-"))
    for name in ("int", "float", "bool", "object"):
        entries.append((name, "py:class", "library/functions.html", "-"))
    for name in ("None", "True", "False"):
        entries.append((name, "py:data", "library/constants.html", "-"))
    for name in ("Exception", "ValueError", "TypeError", "RuntimeError"):
        entries.append((name, "py:exception", "library/exceptions.html", "-"))
    entries += [
        ("datetime.datetime", "py:class", "library/datetime.html", "-"),
        ("pathlib.Path", "py:class", "library/pathlib.html", "-"),
        ("os.PathLike", "py:class", "library/os.html", "-"),
        ("typing.Any", "py:data", "library/typing.html", "-"),
        ("logging", "py:module", "library/logging.html", "-"),
        ("logging.Logger", "py:class", "library/logging.html", "-"),
        ("logging.getLogger", "py:function", "library/logging.html", "-"),
        ("logging.basicConfig", "py:function", "library/logging.html", "-"),
    ]
    return entries


def _flask() -> list[Entry]:
    entries: list[Entry] = [
        ("flask.Flask", "py:class", "api/", "-"),
        ("flask.Blueprint", "py:class", "api/", "-"),
        ("flask.Response", "py:class", "api/", "-"),
        ("flask.request", "py:data", "api/", "-"),
        ("flask.current_app", "py:data", "api/", "-"),
        ("flask.Flask.errorhandler", "py:method", "api/", "-"),
        ("flask.Flask.before_request", "py:method", "api/", "-"),
        ("flask.Flask.app_context", "py:method", "api/", "-"),
        ("flask.Flask.test_client", "py:method", "api/", "-"),
        ("flask.testing.FlaskClient", "py:class", "api/", "-"),
        ("flask.views.MethodView", "py:class", "api/", "-"),
        ("flask.signals", "py:module", "api/", "-"),
    ]
    # Whole pages, for :doc: references.
    entries += [
        ("async-await", "std:doc", "async-await/", "Using async and await"),
        ("patterns/appfactories", "std:doc", "patterns/appfactories/", "Application Factories"),
        ("deploying/index", "std:doc", "deploying/", "Deploying to Production"),
        ("config", "std:doc", "config/", "Configuration Handling"),
    ]
    return entries


def _werkzeug() -> list[Entry]:
    return [
        ("werkzeug.local.LocalProxy", "py:class", "local/", "-"),
        ("werkzeug.wrappers.Response", "py:class", "wrappers/", "-"),
        ("werkzeug.exceptions.HTTPException", "py:exception", "exceptions/", "-"),
        ("werkzeug.middleware.proxy_fix.ProxyFix", "py:class", "middleware/proxy_fix/", "-"),
    ]


def _requests() -> list[Entry]:
    return [
        ("requests.Session", "py:class", "api/", "-"),
        ("requests.Response", "py:class", "api/", "-"),
        ("requests.adapters.HTTPAdapter", "py:class", "api/", "-"),
    ]


#: file stem -> (project name, version, entries)
INVENTORIES: dict[str, tuple[str, str, list[Entry]]] = {
    "python": ("Python", "3", _python()),
    "flask": ("Flask", "3.1.x", _flask()),
    "werkzeug": ("Werkzeug", "3.1.x", _werkzeug()),
    "requests": ("Requests", "2.32", _requests()),
}


def render(project: str, version: str, entries: list[Entry]) -> bytes:
    """One inventory, as ``InventoryFile.dump`` writes it: a header, then zlib lines."""
    lines = []
    for name, role, page, display in sorted(entries):
        # An object's anchor is its name; a document (std:doc) has none.
        uri = page if role == "std:doc" else f"{page}#$"
        lines.append(f"{name} {role} 1 {uri} {display}\n")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    return header.encode() + zlib.compress("".join(lines).encode(), 9)


def main() -> None:
    for stem, (project, version, entries) in INVENTORIES.items():
        data = render(project, version, entries)
        loaded = InventoryFile.loads(data, uri="https://example.invalid/")
        count = sum(len(items) for items in loaded.data.values())
        assert count == len(entries), (stem, count, len(entries))
        (HERE / f"{stem}.inv").write_bytes(data)
        print(f"{stem}.inv: {count} names")


if __name__ == "__main__":
    main()
