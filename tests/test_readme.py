"""The README's code is the code that runs: its example block is a file of examples/ that
tests/test_doc_examples.py runs, and what it says about installing names the package
pyproject.toml builds. Everything else lives in the documentation (docs/), whose own
checks (the generated tables, the included quickstart) are in test_doc_examples.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: <!-- embed: PATH --> + a fenced block + <!-- /embed -->: the block is PATH, verbatim.
EMBED = re.compile(r"<!-- embed: (\S+) -->\n```python\n(.*?)```\n<!-- /embed -->", re.S)
EMBEDDED = ["examples/docs/protect.py"]
QUICKSTART_TESTS = ROOT / "examples" / "quickstart" / "test_app.py"


def embedded() -> dict[str, str]:
    return {path: body for path, body in EMBED.findall(README)}


def test_every_embed_marker_is_well_formed() -> None:
    """An opening marker without its block and closing marker would silently embed nothing."""
    assert README.count("<!-- embed: ") == len(EMBED.findall(README))
    assert README.count("<!-- /embed -->") == len(EMBED.findall(README))


def test_readme_embeds_its_example() -> None:
    assert sorted(embedded()) == EMBEDDED


@pytest.mark.parametrize("path", EMBEDDED)
def test_readme_block_is_the_file(path: str) -> None:
    """Edit the file, then paste it between the markers (or the other way round)."""
    assert embedded()[path] == (ROOT / path).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.rst"])
def test_the_quickstart_test_count_is_right(page: str) -> None:
    """The install steps promise "N passed": N is the number of quickstart tests."""
    promised = re.search(r"python -m pytest +# (\d+) passed", (ROOT / page).read_text("utf-8"))
    assert promised is not None
    tests = re.findall(r"^def test_", QUICKSTART_TESTS.read_text(), re.M)
    assert int(promised.group(1)) == len(tests)


def test_install_commands_name_this_distribution() -> None:
    """`pip install` names the distribution pyproject.toml builds, and its testing extra."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    name = re.search(r'^name = "([^"]+)"$', pyproject, re.M)
    assert name is not None
    assert name.group(1) == "flask-claimguard"
    assert re.search(r"^testing = \[", pyproject, re.M)
    assert f"pip install {name.group(1)} " in README
    assert f'pip install "{name.group(1)}[testing]"' in README
    assert 'pip install "./claimguard[testing]"' in README
    # The bare name belongs to another project: no command block may install it.
    shell = "".join(re.findall(r"```sh\n(.*?)```", README, re.S))
    commands = re.findall(r"pip install [^#\n]+", shell)
    assert len(commands) >= 3
    for command in commands:
        ours = command.replace("flask-claimguard", "").replace("./claimguard", "")
        assert "claimguard" not in ours, command


def test_the_two_make_commands_are_stated() -> None:
    """A clone is set up and checked with two commands, exactly these."""
    assert "make demo    # " in README
    assert "make test    # " in README


def test_relative_links_point_at_files() -> None:
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert any(target.startswith("docs/") for target in targets)
    for target in targets:
        assert (ROOT / target).exists(), target
