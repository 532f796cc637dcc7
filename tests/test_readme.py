"""The README's code is the code that runs: its quickstart blocks are the files in
examples/quickstart (which `make newcomer` installs, starts and tests), and what it says
about installing names the package pyproject.toml builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: <!-- embed: PATH --> + a fenced block + <!-- /embed -->: the block is PATH, verbatim.
EMBED = re.compile(r"<!-- embed: (\S+) -->\n```python\n(.*?)```\n<!-- /embed -->", re.S)
QUICKSTART = ["examples/quickstart/app.py", "examples/quickstart/test_app.py"]


def embedded() -> dict[str, str]:
    return {path: body for path, body in EMBED.findall(README)}


def test_every_embed_marker_is_well_formed() -> None:
    """An opening marker without its block and closing marker would silently embed nothing."""
    assert README.count("<!-- embed: ") == len(EMBED.findall(README))
    assert README.count("<!-- /embed -->") == len(EMBED.findall(README))


def test_readme_embeds_the_quickstart() -> None:
    assert sorted(embedded()) == QUICKSTART


@pytest.mark.parametrize("path", QUICKSTART)
def test_readme_block_is_the_file(path: str) -> None:
    """Edit the file, then paste it between the markers (or the other way round)."""
    assert embedded()[path] == (ROOT / path).read_text(encoding="utf-8")


def test_readme_counts_the_quickstart_tests() -> None:
    """The install section promises "N passed": N is the number of quickstart tests."""
    promised = re.search(r"python -m pytest +# (\d+) passed", README)
    assert promised is not None
    tests = re.findall(r"^def test_", (ROOT / QUICKSTART[1]).read_text(), re.M)
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


def test_relative_links_point_at_files() -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (ROOT / target).exists(), target


def test_the_error_table_lists_every_reason_code() -> None:
    """Each code of the reason table has its row, with its status and public sentence."""
    from claimguard.reasons import REASONS

    rows = {
        match.group(1): (int(match.group(2)), match.group(3))
        for match in re.finditer(
            r"^\| `([a-z_.]+)` \| (\d{3}) \| [^|]+ \| ([^|]+) \|", README, re.M
        )
    }
    assert {code: (r.status, r.sentence) for code, r in REASONS.items()} == {
        code: (status, text.strip()) for code, (status, text) in rows.items() if code in REASONS
    }
    assert set(REASONS) <= set(rows)


def test_the_configuration_table_lists_every_setting() -> None:
    from claimguard.options import OPTIONS

    listed = set(re.findall(r"^\| `(CLAIMGUARD_[A-Z_]+)` \|", README, re.M))
    assert listed == {option.key for option in OPTIONS}
