"""Fixtures of the adversarial suite.

Every test in ``tests/security`` is one attack case. Shared fixtures:

* ``issuer``: one RS256 :class:`~claimguard.testing.ForgedIssuer` for the whole session.
  Its published keys are never changed (tests that need another key set make their own),
  so the apps built on it keep one loaded key set.
* ``api`` / ``client``: the real products API (``example_api.create_app``) in-process,
  its key set loaded; ``cold_client``: the same API with no key loaded, which fails the
  test if the request made it fetch (for checks that must come before the key lookup).
* ``make_api``: the products API for another issuer or other settings.
* ``gunicorn_api``: example_api under gunicorn on 127.0.0.1, for cases where the bytes
  on the wire matter (see :func:`attacks.raw_http`).
* ``hostile``: a :class:`attacks.HostileServer` closed after the test.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from example_server import ExampleServer

from .attacks import AUDIENCE
from .attacks import ROLES
from .attacks import HostileServer
from .attacks import bearer
from .attacks import build_api


@pytest.fixture(scope="session")
def issuer() -> Iterator[ForgedIssuer]:
    """The trusted RS256 issuer. Never rotate, retire or publish on it."""
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as forged:
        yield forged


@pytest.fixture(scope="session")
def attacker_key() -> ForgedKey:
    """The attacker's own RSA key: anyone can make one."""
    return ForgedKey.generate("RS256", kid="attacker-key")


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security-db")


@pytest.fixture(scope="session")
def api(issuer: ForgedIssuer, databases: Path) -> Flask:
    """The products API trusting ``issuer``, its key set loaded by a first request."""
    app = build_api(databases, issuer.config())
    response = app.test_client().get("/me", headers=bearer(issuer.mint(roles=["viewer"])))
    assert response.status_code == 200, response.get_data()
    return app


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    return api.test_client()


@pytest.fixture
def cold_client(issuer: ForgedIssuer, databases: Path) -> Iterator[FlaskClient]:
    """The products API with no key loaded: any key lookup would fetch the JWKS.

    The test fails if its requests made the app fetch: use it for refusals that must
    come before the key lookup (check order, steps 1-3).
    """
    before = issuer.jwks_requests
    yield build_api(databases, issuer.config()).test_client()
    assert issuer.jwks_requests == before, "refused after a JWKS fetch, not before"


@pytest.fixture
def make_api(databases: Path) -> Callable[..., Flask]:
    """Build the products API for another issuer or with other settings."""

    def make(source: ForgedIssuer | None = None, **config: Any) -> Flask:
        settings = source.config() if source is not None else {}
        settings.update(config)
        return build_api(databases, settings)

    return make


@pytest.fixture(scope="session")
def gunicorn_api(issuer: ForgedIssuer, databases: Path) -> Iterator[ExampleServer]:
    """example_api under gunicorn (its real gunicorn.conf.py) on 127.0.0.1."""
    database = databases / "gunicorn.sqlite3"
    server = ExampleServer(
        {**issuer.config(), "EXAMPLE_API_DATABASE": str(database)}, workers=1, threads=4
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    try:
        yield server
    finally:
        server.close()
