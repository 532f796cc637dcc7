"""How example_api is started under gunicorn: one command, shared by ``make demo`` and
the test suites."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "example_api" / "gunicorn.conf.py"


#: The gunicorn application spec of example_api.
APP = "example_api:create_app()"


def gunicorn_command(app: str = APP) -> list[str]:
    """``python -m gunicorn -c example_api/gunicorn.conf.py "example_api:create_app()"``.

    Bind address, workers and threads come from ``EXAMPLE_API_BIND``,
    ``EXAMPLE_API_WORKERS`` and ``EXAMPLE_API_THREADS`` (see ``gunicorn.conf.py``).
    Run it with the repository root as the working directory.

    :param app: another application spec (tests wrap the app with extra routes).
    """
    return [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), app]
