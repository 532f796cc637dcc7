"""The package as pip sees it: the distribution ``flask-claimguard``, the import name
``claimguard``, its version, licence, links and the ``testing`` extra."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import claimguard

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def pyproject_value(key: str) -> str:
    found = re.search(rf'^{key} = "([^"]+)"$', PYPROJECT, re.M)
    assert found is not None, key
    return found.group(1)


def test_version_is_the_one_in_pyproject() -> None:
    assert claimguard.__version__ == pyproject_value("version")
    assert importlib.metadata.version("flask-claimguard") == claimguard.__version__


def test_version_without_installed_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported from a source tree that was never installed: a version that says so."""

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert claimguard._distribution_version() == "0+unknown"


def test_installed_metadata() -> None:
    """What `pip install` records (the Makefile reinstalls when pyproject.toml changes)."""
    metadata = importlib.metadata.metadata("flask-claimguard")
    assert metadata["Name"] == "flask-claimguard"
    assert metadata["License-Expression"] == "MIT"
    assert "testing" in metadata.get_all("Provides-Extra", [])
    requires = metadata.get_all("Requires-Dist", [])
    assert any(r.startswith("pytest") and 'extra == "testing"' in r for r in requires)
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))
    assert set(urls) == {"Homepage", "Source", "Issues", "Documentation"}
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert {(e.name, e.value) for e in plugins if e.dist and e.dist.name == "flask-claimguard"} == {
        ("claimguard", "claimguard.testing.pytest_plugin")
    }


def test_license_file() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the claimguard authors" in text
    assert 'license-files = ["LICENSE"]' in PYPROJECT
