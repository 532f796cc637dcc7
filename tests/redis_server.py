"""A real ``redis-server`` on 127.0.0.1 for tests: started in a temporary directory on a
free port, without persistence, and always stopped.

::

    with RedisServer(tmp_path) as server:
        store = RedisReplayStore(server.url)
        server.kill()       # an outage
        server.start()      # back, on the same port, empty
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

#: How to get what the Redis tests need, for a skip or failure message.
HOW_TO_RUN = (
    "the Redis tests need redis-server and redis-py: "
    "apt-get install redis-server && pip install redis"
)
_START_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def require_redis() -> None:
    """Skip with a line saying how to run the calling test, or fail under ``CI=true``,
    when redis-server or redis-py is missing."""
    import pytest

    missing = [
        what
        for what, present in (
            ("redis-server", redis_server_path() is not None),
            ("the redis Python package", importlib.util.find_spec("redis") is not None),
        )
        if not present
    ]
    if not missing:
        return
    message = f"{' and '.join(missing)} missing: {HOW_TO_RUN}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the Redis tests must run)")
    pytest.skip(message)


def ping(port: int, timeout: float = 0.2) -> bool:
    """Whether a Redis server answers PING on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process, loopback only, no RDB or AOF files."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        executable = redis_server_path()
        if executable is None:
            raise RuntimeError(HOW_TO_RUN)
        self.executable = executable
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the server and wait (at most 5 s) until it answers."""
        if self.process is not None:
            return self
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--logfile", str(self.directory / "redis.log"),
            "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if ping(self.port):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        log = self.directory / "redis.log"
        tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
        raise RuntimeError(f"redis-server did not start on port {self.port}: {tail}")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL): an outage, not a shutdown."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(timeout=5)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
