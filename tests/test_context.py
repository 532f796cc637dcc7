"""The current request's token (claimguard.context): get_current_token() and current_token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claimguard import current_token
from claimguard import get_current_token
from claimguard.testing import ForgedIssuer
from protected_app import ROLES
from protected_app import bearer
from protected_app import make_app


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


def test_current_token_outside_protection(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    with app.test_request_context("/"):
        assert get_current_token() is None
        assert not current_token


def test_a_reused_app_context_never_carries_a_token_to_the_next_request(
    issuer: ForgedIssuer,
) -> None:
    """The verified token lives with its request, not with the app context: a context
    that stays pushed (a test fixture, a nested dispatch) must not authenticate the
    next request as the previous caller."""
    app = make_app(issuer)
    client = app.test_client()
    with app.app_context():
        first = client.get("/admin", headers=bearer(issuer.mint(roles=["admin"])))
        assert first.status_code == 200
        assert client.get("/admin").status_code == 401
        assert client.get("/admin", headers={"Authorization": "Bearer garbage"}).status_code == 401
        viewer = client.get("/admin", headers=bearer(issuer.mint(roles=["viewer"])))
        assert viewer.status_code == 403
