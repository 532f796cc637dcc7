"""What the type checker accepts and refuses, pinned: ``mypy --strict`` over the files
of this folder (``typing_*.py``), as a user's own code would be checked.

``typing_decorators.py`` holds correct uses; ``typing_decorators_misuse.py`` holds wrong
ones, each marked with the ``# type: ignore[code]`` mypy must need there. The run passes
only when every correct line is accepted and every marked line is refused with exactly
that code (an ignore that is not needed fails ``--strict``'s ``--warn-unused-ignores``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def test_mypy_accepts_the_correct_uses_and_refuses_each_misuse(tmp_path: Path) -> None:
    files = sorted(HERE.glob("typing_*.py"))
    assert len(files) >= 2
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--enable-error-code=ignore-without-code",
        f"--cache-dir={tmp_path / 'mypy'}",
        *map(str, files),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no issues found in {len(files)} source files" in result.stdout
