"""Run example_api under gunicorn on 127.0.0.1 for tests, with a bounded start-up.

The database is whatever ``EXAMPLE_API_DATABASE`` the config names, or ``database=``:
a SQLite path, or a PostgreSQL URL such as the ``new_database`` fixture or
:meth:`postgres_server.PostgresServer.create_database` makes::

    ExampleServer(issuer.config(), database=postgres_server.create_database())

Each gunicorn worker then opens its own connection pool (threads + 1 connections).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from example_api.server import APP
from example_api.server import ROOT
from example_api.server import gunicorn_command

__all__ = ["ROOT", "ExampleServer", "environment", "free_port"]

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(config: Mapping[str, Any]) -> dict[str, str]:
    """``CLAIMGUARD_*`` settings as the environment strings example_api reads."""
    return {
        key: ",".join(value) if isinstance(value, (list, tuple)) else str(value)
        for key, value in config.items()
    }


class ExampleServer:
    """example_api under gunicorn; ``base`` is its URL. Stop it with :meth:`stop`.

    gunicorn's stderr goes to a file, never to a pipe: claimguard logs a line per
    refusal, and a pipe nobody reads would fill up and block the workers in the middle
    of a test. :meth:`log_tail` shows the end of it.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        workers: int = 2,
        threads: int = 4,
        warm_up: bool = False,
        log_path: Path | None = None,
        app: str = APP,
        pythonpath: Sequence[Path] = (),
        database: str | None = None,
    ) -> None:
        """:param app: the gunicorn application spec (default: example_api itself).
        :param pythonpath: folders to import ``app`` from, before the repository root.
        :param database: ``EXAMPLE_API_DATABASE`` (a SQLite path or a
            ``postgresql://`` URL), over the one in ``config``.
        """
        self.workers = workers
        self.port = free_port()
        self.host = "127.0.0.1"
        self.base = f"http://127.0.0.1:{self.port}"
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="example_api-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
            self._own_log = True
        else:
            self._own_log = False
        self.log_path = log_path
        env = {
            **os.environ,
            **environment(config),
            "EXAMPLE_API_BIND": f"127.0.0.1:{self.port}",
            "EXAMPLE_API_WORKERS": str(workers),
            "EXAMPLE_API_THREADS": str(threads),
            "EXAMPLE_API_WARM_UP": "1" if warm_up else "0",
        }
        env.pop("EXAMPLE_API_ACCESS_LOG", None)
        # The pool follows the workers' threads unless the test sets it in ``config``.
        if "EXAMPLE_API_DB_POOL_MAX" not in config:
            env.pop("EXAMPLE_API_DB_POOL_MAX", None)
        if database is not None:
            env["EXAMPLE_API_DATABASE"] = database
        if pythonpath:
            inherited = [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []
            env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), *inherited])
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                gunicorn_command(app), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"example_api exited:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError(f"example_api did not start in time:\n{self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._own_log:
            with contextlib.suppress(OSError):
                self.log_path.unlink()
