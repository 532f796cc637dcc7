"""Run example_api under gunicorn on 127.0.0.1 for tests, with a bounded start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
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
    """example_api under gunicorn; ``base`` is its URL. Stop it with :meth:`stop`."""

    def __init__(self, config: Mapping[str, Any], *, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            **environment(config),
            "EXAMPLE_API_BIND": f"127.0.0.1:{self.port}",
            "EXAMPLE_API_WORKERS": str(workers),
            "EXAMPLE_API_THREADS": str(threads),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "example_api" / "gunicorn.conf.py"),
                "example_api:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, err = self.process.communicate(timeout=5)
                raise RuntimeError(f"example_api exited: {err.decode(errors='replace')[-2000:]}")
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("example_api did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()
