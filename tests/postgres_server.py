"""A throwaway PostgreSQL server on 127.0.0.1 for tests, from the machine's own binaries.

::

    with PostgresServer() as server:
        url = server.create_database()  # postgresql://postgres@127.0.0.1:<port>/tests?...
        ...
        server.drop_database(url)

How it is started, and why:

* The binaries are found with ``pg_config --bindir``, else in the newest
  ``/usr/lib/postgresql/<version>/bin`` (Debian installs them there, off ``PATH``).
* ``initdb`` refuses to run as root (a server must not own root's files). As root, the
  cluster goes into a folder under the system's temporary directory owned by the
  ``postgres`` system user, and ``initdb`` and ``pg_ctl`` run as that user through
  ``runuser``. As anyone else they run as the current user.
* The cluster trusts every connection, which is safe only because the server listens
  on 127.0.0.1 alone and its Unix socket sits in the cluster's own private folder.
* ``fsync=off``, ``synchronous_commit=off`` and ``full_page_writes=off``: the data
  is thrown away after the session, so durability is only time lost.
* Every wait is bounded (``pg_ctl -w -t``, subprocess timeouts), and :meth:`stop`
  uses ``pg_ctl stop -m immediate``, then kills the postmaster if it still runs.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

#: How to get what the PostgreSQL tests need, for a skip or failure message.
HOW_TO_RUN = "the PostgreSQL tests need the server binaries: apt-get install postgresql"
#: The system user that owns the cluster when the tests run as root (Debian's package
#: creates it).
SYSTEM_USER = "postgres"
#: The database every test database lives in, as a schema (see create_database).
TEST_DATABASE = "tests"
#: Seconds ``pg_ctl`` may wait for the server to start or stop.
START_TIMEOUT = 30
STOP_TIMEOUT = 10


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def find_bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``; ``None`` if absent."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        # pg_config comes with the client library too (libpq-dev): its bindir counts
        # only if the server's binaries are really there.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            answer = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(answer.stdout.strip()))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.extend(Path(path) for path in found)
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing_requirement() -> str | None:
    """Why the PostgreSQL tests cannot run here, or ``None`` when they can."""
    if find_bindir() is None:
        return f"initdb, pg_ctl and postgres not found; {HOW_TO_RUN}"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return (
                f"running as root without a {SYSTEM_USER!r} system user to run them; {HOW_TO_RUN}"
            )
        if shutil.which("runuser") is None:
            return "running as root without runuser (util-linux) to drop to the postgres user"
    return None


class PostgresServer:
    """One PostgreSQL cluster and server, loopback only, thrown away by :meth:`stop`."""

    def __init__(self) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(HOW_TO_RUN)
        self.bindir = bindir
        self.port = free_port()
        self.folder: Path | None = None
        self._names = itertools.count(1)
        self._running = False

    # -- running the binaries ---------------------------------------------------------

    def _as_owner(self, *command: str) -> list[str]:
        """``command`` run as the cluster's owner: the ``postgres`` user under root."""
        if os.geteuid() == 0:
            return ["runuser", "-u", SYSTEM_USER, "--", *command]
        return list(command)

    def _run(self, *command: str, timeout: float) -> None:
        answer = subprocess.run(
            self._as_owner(*command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.folder,  # a folder the owner can enter (root's may be closed to it)
        )
        if answer.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({answer.returncode}): "
                f"{answer.stderr.strip()[-800:]}\n{self.log_tail()}"
            )

    @property
    def data(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    def log_tail(self, size: int = 1500) -> str:
        if self.folder is None:
            return ""
        with contextlib.suppress(OSError):
            return (self.folder / "server.log").read_text(errors="replace")[-size:]
        return ""

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """``initdb`` a new cluster and start it; returns once it accepts connections."""
        if self._running:
            return self
        # Not pytest's tmp_path: its folders belong to root with mode 0700, which the
        # postgres user cannot enter.
        self.folder = Path(tempfile.mkdtemp(prefix="claimguard-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, user=SYSTEM_USER, group=SYSTEM_USER)
        try:
            self._run(
                str(self.bindir / "initdb"),
                "--pgdata", str(self.data),
                "--username", "postgres",
                "--auth", "trust",
                "--encoding", "UTF8",
                "--locale", "C",
                "--no-sync",
                timeout=60,
            )  # fmt: skip
            options = " ".join(
                [
                    f"-p {self.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={self.folder}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=200",
                ]
            )
            self._running = True
            self._run(
                str(self.bindir / "pg_ctl"),
                "--pgdata", str(self.data),
                "--log", str(self.folder / "server.log"),
                "--options", options,
                "--wait", "--timeout", str(START_TIMEOUT),
                "start",
                timeout=START_TIMEOUT + 10,
            )  # fmt: skip
            self._admin(f'CREATE DATABASE "{TEST_DATABASE}"')
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (``-m immediate``: nothing is worth keeping) and
        remove the cluster. Safe to call twice, and after a failed start."""
        if self.folder is None:
            return
        if self._running:
            self._running = False
            try:
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "--pgdata", str(self.data),
                    "--mode", "immediate",
                    "--wait", "--timeout", str(STOP_TIMEOUT),
                    "stop",
                    timeout=STOP_TIMEOUT + 10,
                )  # fmt: skip
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _kill_postmaster(self) -> None:
        """The last resort when ``pg_ctl stop`` failed: SIGKILL the postmaster whose
        process id its own ``postmaster.pid`` names (never a process found by name)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        # CREATE DATABASE cannot run inside a transaction block: autocommit.
        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as connection:
            connection.execute(statement)

    def create_database(self) -> str:
        """The URL of a new, empty database for one app or test.

        It is a schema of its own in the cluster's one test database, which the URL
        selects (``options=-csearch_path=…``): to example_api, whose SQL names no
        schema, that is a database of its own, and it takes a millisecond to make where
        ``CREATE DATABASE`` takes a third of a second (it copies a template).
        """
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE SCHEMA "{name}"', database=TEST_DATABASE)
        return f"{self.url(TEST_DATABASE)}?options=-csearch_path%3D{name}"

    def drop_database(self, url: str) -> None:
        """Drop what :meth:`create_database` made for ``url``, tables and all."""
        name = url.rsplit("%3D", 1)[1]
        self._admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE', database=TEST_DATABASE)
