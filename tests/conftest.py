"""Shared test set-up. The ``forged_issuer`` fixture comes from claimguard's own pytest
plugin (registered through the ``pytest11`` entry point), as it does for users.

The core suites (validation, token, token cache) share the fixtures below; a module that
needs another issuer (one with a roles claim, say) defines its own ``issuer``.

example_api's storage and HTTP suites run on both of its backends: a test that uses
``new_database`` (directly or through a fixture) runs once with ``database_backend``
``"sqlite"`` and once with ``"postgresql"``. The PostgreSQL server is started once per
session (tests/postgres_server.py); without its binaries those runs skip with a line
saying how to get them, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from claimguard import TokenValidator
from claimguard.testing import ForgedIssuer
from expected import ManualClock
from postgres_server import PostgresServer
from postgres_server import missing_requirement
from redis_server import RedisServer
from redis_server import require_redis

#: example_api's storage backends, one run of each storage and HTTP test per backend.
DATABASE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    """One RS256 issuer for the tests that neither rotate nor retire keys."""
    with ForgedIssuer() as forged:
        yield forged


@pytest.fixture(scope="module")
def validator(issuer: ForgedIssuer) -> TokenValidator:
    """A validator trusting the module issuer, its key set loaded once."""
    return issuer.validator()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()


def _require_postgres() -> None:
    """Skip with a line saying how to run the PostgreSQL tests, or fail under CI=true."""
    problem = missing_requirement()
    if problem is None and importlib.util.find_spec("psycopg_pool") is None:
        problem = "psycopg_pool is missing: pip install -e '.[dev]'"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem + " (CI=true: the PostgreSQL tests must run)")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole session (about a second to start),
    always stopped at the end."""
    _require_postgres()
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=DATABASE_BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``: the tests that depend on it run once for each.
    Module-scoped, so that a module's shared server or app is built once per backend."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="module")
def new_database(
    database_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], str]]:
    """Make a fresh, empty ``EXAMPLE_API_DATABASE`` for the module's backend: a new
    SQLite file path, or a new PostgreSQL database's URL (dropped after the module, with
    whatever connections are left on it)."""
    if database_backend == "sqlite":
        folder = tmp_path_factory.mktemp("sqlite")
        numbers = itertools.count(1)
        yield lambda: str(folder / f"products-{next(numbers)}.sqlite3")
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    made: list[str] = []

    def make() -> str:
        made.append(server.create_database())
        return made[-1]

    yield make
    for url in made:
        server.drop_database(url)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1 for one test, always stopped (skipped, or failed
    under CI=true, without redis-server or redis-py)."""
    require_redis()
    server = RedisServer(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
