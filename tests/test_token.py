"""What a verified token exposes (claimguard.token): its members, read-only claims and a
repr that never shows the token."""

from __future__ import annotations

import time
from datetime import datetime
from datetime import timezone

import pytest

from claimguard import TokenValidator
from claimguard import VerifiedToken
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"


def test_verified_token_members(validator: TokenValidator, issuer: ForgedIssuer) -> None:
    """Subject, issuer, audience (tuple), expires_at (aware), raw, client_id."""
    exp = int(time.time()) + 3600
    token = issuer.mint(sub="auth0|42", exp=exp, azp="client-a", roles=["viewer"])
    verified = validator.validate(token)
    assert isinstance(verified, VerifiedToken)
    assert verified.subject == "auth0|42"
    assert verified.issuer == issuer.issuer
    assert verified.audience == (issuer.audience,)
    assert verified.expires_at == datetime.fromtimestamp(exp, tz=timezone.utc)
    assert verified.expires_at.tzinfo is not None
    assert verified.raw == token
    assert verified.client_id == "client-a"
    assert verified.header["kid"] == issuer.kid


def test_verified_token_audience_is_a_tuple_for_an_array(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """RFC 7519 §4.1.3: aud may be an array; .audience is always a tuple."""
    aud = [issuer.audience, "https://tenant.example.com/userinfo"]
    assert validator.validate(issuer.mint(aud=aud)).audience == tuple(aud)


def test_verified_token_client_id_prefers_rfc9068_client_id(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """RFC 9068 §2.2: client_id names the client; azp is the Auth0 fallback."""
    verified = validator.validate(issuer.mint(client_id="rfc9068", azp="auth0"))
    assert verified.client_id == "rfc9068"
    assert validator.validate(issuer.mint(azp=None)).client_id is None


def test_verified_token_claims_are_deeply_read_only(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """.claims and .header are deeply read-only; nested lists become tuples."""
    verified = validator.validate(issuer.mint(roles=["viewer"], realm_access={"roles": ["viewer"]}))
    with pytest.raises(TypeError):
        verified.claims["sub"] = "admin"  # type: ignore[index]
    with pytest.raises(TypeError):
        verified.claims["realm_access"]["roles"] = ["admin"]
    with pytest.raises(TypeError):
        verified.header["alg"] = "none"  # type: ignore[index]
    assert verified.claims[ROLES] == ("viewer",)
    assert verified.claims["realm_access"]["roles"] == ("viewer",)
    with pytest.raises(AttributeError):
        verified.roles = frozenset({"admin"})  # type: ignore[misc]


def test_verified_token_repr_never_shows_the_token(
    validator: TokenValidator, issuer: ForgedIssuer
) -> None:
    """The token itself is never logged; repr is what logs show."""
    token = issuer.mint()
    verified = validator.validate(token)
    for text in (repr(verified), str(verified), f"{verified}"):
        assert token not in text
        for part in token.split("."):
            assert part not in text
