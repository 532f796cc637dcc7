"""examples/quickstart, the quickstart guide's app and tests, run in this suite's virtualenv.

`make newcomer` runs the same files after a fresh install; these tests give the same
answer in seconds, as part of `make quick`. Both run a copy outside this repository, so
nothing here (pyproject's pytest settings, tests/, the source tree) helps them pass.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of examples/quickstart, as a user's project would hold it."""
    copy = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def newcomer() -> ModuleType:
    """examples/newcomer.py, the script behind `make newcomer` (not a package module)."""
    spec = importlib.util.spec_from_file_location("newcomer", ROOT / "examples" / "newcomer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_tests_pass(quickstart: Path) -> None:
    """`python -m pytest` in the quickstart's folder: its tests pass, with the
    forged_issuer fixture that the installed package registers."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error"],
        cwd=quickstart,
        env=newcomer().clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
    assert f"rootdir: {quickstart}" in done.stdout


def test_quickstart_app_serves_refuses_and_says_why(quickstart: Path, tmp_path: Path) -> None:
    """`python app.py` starts on loopback, refuses a request without a token and one with
    a malformed token, and logs a "refused" line with the reason for each."""
    summary = newcomer().run_quickstart_app(Path(sys.executable), quickstart, tmp_path / "log")
    assert summary.count('refused GET "/products": 401') == 2
