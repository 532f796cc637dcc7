"""The documentation's own Sphinx extension: tables made from the code, and checks that
fail the build when the pages and the code disagree.

Directives:

``.. claimguard-options::``
    The configuration table, one row per entry of :data:`claimguard.options.OPTIONS`
    (key, default, range and constructor keyword from the code), with the meaning of
    each setting from :data:`MEANINGS` below.

``.. claimguard-reasons::``
    The reason-code table, one row per entry of :data:`claimguard.reasons.REASONS`
    (status, sentence and fix from the code), with the body's ``error`` read from the
    exception claimguard raises for that code.

Checks, each an error that stops the build (with or without ``-W``):

* every setting has a meaning in :data:`MEANINGS`, and every meaning names a setting;
* every name in the ``__all__`` of :data:`PUBLIC_MODULES` is documented by the API
  reference, with a docstring, and so is every public method, property and attribute
  of the public classes;
* every relative link of the built HTML reaches a page of the site, and its anchor;
* every Python code block of the guides is either ``literalinclude``-d from a file the
  test suite runs, or a doctest that ``sphinx-build -b doctest`` runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

#: What each setting means, keyed by its ``app.config`` key. Key, default, range and the
#: core constructor's keyword come from :data:`claimguard.options.OPTIONS`; only the
#: meaning is written here, in reStructuredText. A setting without a meaning, or a
#: meaning without its setting, stops the build.
MEANINGS: dict[str, str] = {
    "CLAIMGUARD_DOMAIN": (
        "Auth0 tenant or custom domain. The issuer is then ``https://DOMAIN/`` and the "
        "keys are read from ``https://DOMAIN/.well-known/jwks.json``."
    ),
    "CLAIMGUARD_ISSUER": (
        "The exact issuer string (``iss``), or a list of them. Unset: derived from "
        "``CLAIMGUARD_DOMAIN``."
    ),
    "CLAIMGUARD_AUDIENCE": (
        "**Required.** Your API's identifier, or a list; a token matches when any of its "
        "``aud`` values is listed."
    ),
    "CLAIMGUARD_JWKS_URL": (
        "Where the keys are fetched. Unset: derived from ``CLAIMGUARD_DOMAIN``, else found "
        "through OpenID Connect discovery."
    ),
    "CLAIMGUARD_ALGORITHMS": (
        "The signature algorithms accepted: RS, PS or ES 256 to 512, and EdDSA. ``none`` "
        "and every ``HS*`` are refused at start-up."
    ),
    "CLAIMGUARD_ROLES_CLAIM": (
        "The claim, or claims in order, that hold the user's roles. A name starting with "
        "``/`` is a JSON Pointer (``/realm_access/roles``)."
    ),
    "CLAIMGUARD_LEEWAY": "Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.",
    "CLAIMGUARD_JWKS_CACHE_TTL": "Seconds a fetched key set stays fresh.",
    "CLAIMGUARD_JWKS_COOLDOWN": (
        "Minimum seconds between two refetches for an unknown ``kid``, and the back-off "
        "after a failed fetch."
    ),
    "CLAIMGUARD_JWKS_MAX_STALE": (
        "How long, in seconds, the last good keys keep serving while the issuer cannot be reached."
    ),
    "CLAIMGUARD_HTTP_TIMEOUT": "Seconds for each discovery or key-set fetch, in total.",
    "CLAIMGUARD_STRICT_TYP": (
        "Require the RFC 9068 header ``typ: at+jwt``. When off, a ``typ`` that is present "
        "must still be ``JWT`` or ``at+jwt``."
    ),
    "CLAIMGUARD_MAX_TOKEN_AGE": (
        "Refuse tokens issued longer ago than this many seconds (read from ``iat``)."
    ),
    "CLAIMGUARD_ALLOWED_CLIENTS": (
        "When set, the token's ``client_id`` (or ``azp``) must be one of these."
    ),
    "CLAIMGUARD_SCOPE_CLAIM": "Where scopes are read (``scp`` for some providers).",
    "CLAIMGUARD_PERMISSIONS_CLAIM": "Where permissions are read (Auth0 RBAC).",
    "CLAIMGUARD_TOKEN_CACHE_SIZE": (
        "Entries of the verified-token cache of each app; ``0`` turns the cache off."
    ),
    "CLAIMGUARD_REALM": "The ``realm`` of the ``WWW-Authenticate`` challenges.",
    "CLAIMGUARD_DPOP_MODE": (
        "``off``: the ``DPoP`` scheme counts as no credentials and a bound (``cnf``) token "
        "is refused; ``allowed``: Bearer and DPoP; ``required``: DPoP only. A route's "
        "``dpop=`` overrides it."
    ),
    "CLAIMGUARD_DPOP_ALGORITHMS": (
        'The proof algorithms accepted (asymmetric only), announced as ``algs="…"`` in '
        "DPoP challenges."
    ),
    "CLAIMGUARD_DPOP_MAX_AGE": "Seconds a proof's ``iat`` may lie in the past.",
    "CLAIMGUARD_DPOP_LEEWAY": "Seconds a proof's ``iat`` may lie in the future.",
    "CLAIMGUARD_DPOP_REPLAY_STORE": (
        "Where used proofs are remembered: ``memory`` (one process), a ``redis://`` URL "
        '(shared by every worker and instance; ``pip install "flask-claimguard[redis]"``) '
        "or an object with ``claim(key, ttl) -> bool``."
    ),
    "CLAIMGUARD_DPOP_NONCE_SECRET": (
        "32 bytes or more, the same on every instance: turns on server nonces (a "
        "stateless HMAC over one-minute steps), sent as ``DPoP-Nonce``."
    ),
    "CLAIMGUARD_DPOP_REQUIRE_NONCE": (
        "Demand a fresh server nonce in every proof (needs the nonce secret)."
    ),
    "CLAIMGUARD_PUBLIC_URL": (
        "The API's external origin and path prefix (``https://api.example.com``): the URL "
        "a DPoP proof must name is built from it instead of the request's ``Host``."
    ),
}

#: The modules whose ``__all__`` the API reference must document, every name of it.
PUBLIC_MODULES = ("claimguard", "claimguard.testing", "claimguard.signals")


# -- tables ----------------------------------------------------------------------------


def check_meanings() -> None:
    """Every setting has a meaning, and every meaning names a setting."""
    from claimguard.options import OPTIONS

    keys = [option.key for option in OPTIONS]
    missing = [key for key in keys if key not in MEANINGS]
    unknown = sorted(set(MEANINGS) - set(keys))
    problems = []
    if missing:
        problems.append("settings without a meaning: " + ", ".join(missing))
    if unknown:
        problems.append("meanings of no setting: " + ", ".join(unknown))
    if problems:
        raise ExtensionError(
            "docs/_ext/claimguard_docs.py MEANINGS and claimguard.options.OPTIONS disagree: "
            + "; ".join(problems)
        )


def _number(value: float) -> str:
    return f"{value:g}"


def _range(low: float | None, high: float | None) -> str:
    if low is None:
        return ""
    if high is None:
        return f"at least {_number(low)}"
    return f"{_number(low)} to {_number(high)}"


class _Table:
    """A docutils table built row by row: plain text cells, or cells of parsed markup."""

    def __init__(self, directive: SphinxDirective, headers: list[str], widths: list[int]):
        self.directive = directive
        self.table = nodes.table(classes=["claimguard-generated"])
        group = nodes.tgroup(cols=len(headers))
        self.table += group
        for width in widths:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row([self._text(header) for header in headers])
        self.body = nodes.tbody()
        group += self.body

    @staticmethod
    def _row(cells: Iterable[nodes.Element]) -> nodes.row:
        row = nodes.row()
        for content in cells:
            entry = nodes.entry()
            entry += content
            row += entry
        return row

    @staticmethod
    def _text(text: str, literal: bool = False) -> nodes.Element:
        paragraph = nodes.paragraph()
        if text:
            paragraph += nodes.literal(text, text) if literal else nodes.Text(text)
        return paragraph

    def markup(self, source: str) -> nodes.Element:
        container = nodes.container()
        self.directive.state.nested_parse(
            StringList([source], source=self.directive.get_source_info()[0]),
            self.directive.content_offset,
            container,
        )
        return container

    def add(self, cells: list[nodes.Element]) -> None:
        self.body += self._row(cells)

    text = _text


class OptionsTable(SphinxDirective):
    """``.. claimguard-options::``: every setting of :data:`claimguard.options.OPTIONS`."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from claimguard.options import OPTIONS

        check_meanings()
        table = _Table(self, ["setting", "default", "meaning"], [30, 14, 56])
        for option in OPTIONS:
            anchor = nodes.target("", "", ids=[f"setting-{option.key.lower().replace('_', '-')}"])
            key = table.text(option.key, literal=True)
            key.insert(0, anchor)
            default = (
                table.text("not set")
                if option.default is None
                else table.text(repr(option.default), literal=True)
            )
            meaning = table.markup(MEANINGS[option.key])
            facts = nodes.paragraph(classes=["claimguard-facts"])
            if option.low is not None:
                facts += nodes.Text(f"Range: {_range(option.low, option.high)}. ")
            if option.keyword:
                facts += nodes.Text("Core keyword: ")
                facts += nodes.literal(f"{option.keyword}=", f"{option.keyword}=")
                facts += nodes.Text(".")
            if len(facts):
                meaning += facts
            table.add([key, default, meaning])
        return [table.table]


def error_for(code: str, status: int) -> Any:
    """The exception claimguard raises for ``code``: the class its answer comes from."""
    from claimguard import errors
    from claimguard.dpop_errors import DPOP_REASONS
    from claimguard.dpop_errors import DPoPNonceError
    from claimguard.dpop_errors import DPoPProofError
    from claimguard.dpop_errors import DPoPRequestError
    from claimguard.dpop_errors import DPoPStoreUnavailableError
    from claimguard.dpop_errors import DPoPTokenError

    dpop = {row.code for row in DPOP_REASONS}
    if code.endswith(".missing") and status == 403:
        return errors.InsufficientScopeError(code.split(".")[0], ["example"])
    if code in dpop:
        if status == 503:
            return DPoPStoreUnavailableError()
        if status == 400:
            return DPoPRequestError(reason=code)
        if code.startswith("token."):
            return DPoPTokenError(reason=code)
        if code.startswith("dpop.nonce"):
            return DPoPNonceError(reason=code)
        return DPoPProofError(reason=code)
    if code == "request.no_credentials":
        return errors.MissingTokenError()
    kinds = {
        500: errors.ClaimGuardError,
        503: errors.KeySetUnavailableError,
        400: errors.InvalidRequestError,
    }
    if status in kinds:
        return kinds[status](reason=code)
    if code.startswith("request."):
        return errors.BearerError(reason=code)
    return errors.InvalidTokenError(reason=code)


class ReasonsTable(SphinxDirective):
    """``.. claimguard-reasons::``: every code of :data:`claimguard.reasons.REASONS`."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from claimguard.reasons import REASONS

        table = _Table(
            self,
            ["reason", "answer", "error_description and str(error)", "what to fix"],
            [22, 18, 26, 34],
        )
        for code, reason in REASONS.items():
            error = error_for(code, reason.status)
            if error.status_code != reason.status or error.reason != code:
                raise ExtensionError(
                    f"reason {code}: the table says {reason.status}, but "
                    f"{type(error).__name__} answers {error.status_code} ({error.reason})"
                )
            answer = nodes.paragraph()
            answer += nodes.Text(f"{reason.status} ")
            answer += nodes.literal(error.body()["error"], error.body()["error"])
            if error.error is None and reason.status == 401:
                # RFC 6750 §3.1: a challenge without an error code (no credentials).
                answer += nodes.Text(" (bare challenge)")
            anchor = nodes.target(
                "", "", ids=[f"reason-{code.replace('.', '-').replace('_', '-')}"]
            )
            cell = table.text(code, literal=True)
            cell.insert(0, anchor)
            table.add(
                [
                    cell,
                    answer,
                    table.text(reason.sentence),
                    table.text(reason.fix),
                ]
            )
        return [table.table]


# -- API coverage ----------------------------------------------------------------------


def _public_members(cls: type) -> list[str]:
    """The public names a class defines itself: methods, properties, class attributes."""
    names = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            names.append(name)
    return names


def check_api_coverage(app: Sphinx, env: BuildEnvironment) -> None:
    """Every public name is documented by the reference, and has a docstring."""
    objects = env.domains.python_domain.objects
    problems = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            full = f"{module_name}.{name}"
            value = getattr(module, name)
            if full not in objects:
                problems.append(f"{full} is not in the API reference")
            if not _has_doc(module_name, name, value):
                problems.append(f"{full} has no docstring")
            if inspect.isclass(value):
                for member in _public_members(value):
                    if not (inspect.getdoc(getattr(value, member)) or "").strip():
                        problems.append(f"{full}.{member} has no docstring")
                    elif f"{full}.{member}" not in objects:
                        problems.append(f"{full}.{member} is not in the API reference")
    if problems:
        raise ExtensionError(
            "the API reference (docs/api.rst) misses public names:\n  " + "\n  ".join(problems)
        )


def _has_doc(module_name: str, name: str, value: Any) -> bool:
    """A class or function has its own docstring; a module-level object (a signal, the
    ``current_token`` proxy) has a ``#:`` comment that autodoc reads."""
    if inspect.isclass(value) or inspect.isfunction(value):
        return bool((value.__doc__ or "").strip())
    from sphinx.pycode import ModuleAnalyzer

    module = importlib.import_module(module_name)
    defined_in = getattr(module, "_EXPORTS", {}).get(name)
    sources = [module_name]
    if defined_in:
        sources.append(importlib.util.resolve_name(defined_in, module_name))
    for source in sources:
        try:
            docs = ModuleAnalyzer.for_module(source).find_attr_docs()
        except Exception:  # noqa: S112
            continue
        if any(key[1] == name for key in docs):
            return True
    return False


# -- Python code blocks run ------------------------------------------------------------

#: Pages made from docstrings, whose examples belong to the code they document.
REFERENCE_PAGES = {"api"}
PYTHON = {"python", "py", "python3", "pycon", "default"}


def check_code_blocks(app: Sphinx, doctree: nodes.document) -> None:
    """A Python block is included from a tested file, or a doctest: never typed inline."""
    docname = app.env.docname
    if docname in REFERENCE_PAGES:
        return
    for block in doctree.findall(nodes.literal_block):
        language = block.get("language", "default")
        if language not in PYTHON:
            continue
        if block.get("testnodetype") or block.get("source"):
            continue
        if language == "default" and not _looks_like_python(block.astext()):
            continue
        line = block.line or "?"
        raise ExtensionError(
            f"{docname}.rst:{line}: a Python code block typed into the page. Include it from "
            "a file the tests run (literalinclude), or write it as a doctest."
        )


def _looks_like_python(text: str) -> bool:
    return text.lstrip().startswith(("import ", "from ", "def ", "@", ">>>"))


# -- links that stay inside the site ---------------------------------------------------


class _Links(HTMLParser):
    """The ``href``/``src`` values and the ``id`` values of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in ("href", "src") and tag in ("a", "img", "link", "script"):
                self.links.append(value)


def check_internal_links(app: Sphinx, exception: Exception | None) -> None:
    """After an HTML build: every relative link of every page reaches a file of the
    site, and its ``#fragment`` an element of that page. External links are not
    followed (no network here or in CI)."""
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.outdir)
    pages = {path: _Links() for path in root.rglob("*.html")}
    for path, parser in pages.items():
        parser.feed(path.read_text(encoding="utf-8"))
    problems = []
    for path, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            if not parts.path:
                target = path
            elif parts.path.startswith("/"):  # the 404 page links from the site's root
                target = root / unquote(parts.path).lstrip("/")
            else:
                target = (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{path.relative_to(root)}: {link} (no such file)")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target in pages and fragment not in pages[target].ids:
                problems.append(f"{path.relative_to(root)}: {link} (no such anchor)")
    if problems:
        raise ExtensionError("broken links inside the site:\n  " + "\n  ".join(problems))


# -- short names in signatures ---------------------------------------------------------

#: Names that signatures show unqualified (imported into claimguard's modules), and the
#: full name the intersphinx inventories know them by.
SHORT_NAMES = {
    "Flask": "flask.Flask",
    "Blueprint": "flask.Blueprint",
    "Response": "flask.Response",
    "FlaskClient": "flask.testing.FlaskClient",
    "Session": "requests.Session",
}


def qualify_short_name(app: Sphinx, env: BuildEnvironment, node: Any, contnode: Any) -> None:
    """Point an unresolved ``Flask`` at ``flask.Flask``; intersphinx then resolves it."""
    target = node.get("reftarget")
    if node.get("refdomain") == "py" and target in SHORT_NAMES:
        node["reftarget"] = SHORT_NAMES[target]


def setup(app: Sphinx) -> dict[str, Any]:
    # Before intersphinx's own handler (priority 500), which then finds the full name.
    app.connect("missing-reference", qualify_short_name, priority=400)
    app.add_directive("claimguard-options", OptionsTable)
    app.add_directive("claimguard-reasons", ReasonsTable)
    app.connect("builder-inited", lambda app: check_meanings())
    app.connect("env-check-consistency", check_api_coverage)
    app.connect("doctree-read", check_code_blocks)
    app.connect("build-finished", check_internal_links)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
