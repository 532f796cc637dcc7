"""Genuine Auth0 tokens, verified offline against the JWKS of the tenant that signed them.

The fixtures (``shared/fixtures/auth0``, beside the repository) are real tokens and
public key sets from public material; each tenant's JWKS is served from a loopback HTTP
server and time is frozen shortly after each token's ``iat``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from base64 import urlsafe_b64decode
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import datetime
from datetime import timezone
from typing import Any

import pytest

from auth0_fixtures import api_audience
from auth0_fixtures import load
from auth0_fixtures import require
from claimguard import ClaimRules
from claimguard import ConfigurationError
from claimguard import ExpiredTokenError
from claimguard import InvalidTokenError
from claimguard import JWKSCache
from claimguard import TokenValidator
from claimguard import VerifiedToken
from claimguard.claims import freeze
from claimguard.jws import parse_json_object
from claimguard.testing import ForgedIssuer
from expected import ManualClock as Clock
from loopback import LoopbackServer

require()

ACCESS_TOKENS = ("dev-928ngan9-1", "dev-928ngan9-2", "voronenko-1", "voronenko-2", "dev-duzyayk4-1")
ID_TOKENS = ("dev-ubofe255-1", "dev-j34aiglnx8fz83sc-1")
CROSS_TENANT = "dev-nn41qmsm56z6ffw2-1"
ALL_TOKENS = (*ACCESS_TOKENS, *ID_TOKENS, CROSS_TENANT)
# One key set per tenant: the pair file it comes from, or a stand-alone JWKS file.
TENANT_JWKS = {
    "dev-928ngan9": "dev-928ngan9-1",
    "voronenko": "voronenko-1",
    "dev-duzyayk4": "dev-duzyayk4-1",
    "dev-ubofe255": "dev-ubofe255-1",
    "dev-j34aiglnx8fz83sc": "dev-j34aiglnx8fz83sc-1",
    "dev-nn41qmsm56z6ffw2": "dev-nn41qmsm56z6ffw2-1",
    "common": "jwks-common-auth0",
}
B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def tenant_of(name: str) -> str:
    return name.rsplit("-", 1)[0]


def thaw(value: Any) -> Any:
    """Undo ``freeze``: mapping proxies back to dicts, tuples back to lists."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


def b64url_json(part: str) -> Any:
    return json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def rfc7638(jwk: Mapping[str, Any]) -> str:
    """Hex SHA-256 of an RSA key's RFC 7638 canonical JSON."""
    canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def make_validator(
    server: LoopbackServer,
    name: str,
    *,
    jwks: Mapping[str, Any] | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    clock: Clock | None = None,
    **options: Any,
) -> tuple[TokenValidator, str]:
    """A validator for fixture ``name``: its tenant's JWKS (or ``jwks``) on a fresh URL,
    its own issuer and API audience, and time frozen at ``iat + 60``."""
    pair = load(name)
    claims = pair["claims"]
    url = server.serve(jwks if jwks is not None else pair["jwks"])
    validator = TokenValidator(
        issuers={issuer or claims["iss"]: JWKSCache(url)},
        audiences=audience or api_audience(claims),
        clock=clock or Clock(claims["iat"] + 60),
        **options,
    )
    return validator, url


# -- every genuine token verifies --------------------------------------------------


@pytest.mark.parametrize("name", ACCESS_TOKENS)
def test_access_token_validates(jwks_server: LoopbackServer, name: str) -> None:
    """Each access token verifies with its tenant's JWKS, issuer and API identifier."""
    pair = load(name)
    validator, url = make_validator(jwks_server, name)
    token = validator.validate(pair["token"])
    assert isinstance(token, VerifiedToken)
    assert thaw(token.claims) == pair["claims"]
    assert thaw(token.header) == pair["header"]
    assert token.issuer == pair["claims"]["iss"]
    assert token.issuer.endswith(".auth0.com/")
    assert token.subject == pair["claims"]["sub"]
    assert api_audience(pair["claims"]) in token.audience
    assert token.expires_at == datetime.fromtimestamp(pair["claims"]["exp"], tz=timezone.utc)
    assert token.raw == pair["token"]
    assert jwks_server.hits(url) == 1


@pytest.mark.parametrize("name", [*ID_TOKENS, CROSS_TENANT])
def test_id_token_signature_is_genuine(jwks_server: LoopbackServer, name: str) -> None:
    """Control: ID tokens verify when their client_id is (wrongly) the audience."""
    pair = load(name)
    validator, _ = make_validator(jwks_server, name, audience=pair["claims"]["aud"])
    assert validator.validate(pair["token"]).subject == pair["claims"]["sub"]


# -- claim shapes ------------------------------------------------------------------


def test_aud_list_becomes_tuple_of_both(jwks_server: LoopbackServer) -> None:
    """aud [API, /userinfo] comes out as a tuple holding both, in order."""
    pair = load("dev-928ngan9-1")
    validator, _ = make_validator(jwks_server, "dev-928ngan9-1")
    token = validator.validate(pair["token"])
    assert token.audience == (
        "https://api.mysite.com",
        "https://dev-928ngan9.auth0.com/userinfo",
    )
    assert token.scopes == {"openid", "profile", "email"}
    assert token.client_id == pair["claims"]["azp"]
    assert token.roles == frozenset()


def test_userinfo_audience_is_refused_at_start_up(jwks_server: LoopbackServer) -> None:
    """The /userinfo element of a list aud is not an API identifier."""
    with pytest.raises(ConfigurationError, match="userinfo"):
        make_validator(
            jwks_server, "dev-928ngan9-1", audience="https://dev-928ngan9.auth0.com/userinfo"
        )


@pytest.mark.parametrize(
    ("name", "permissions"),
    [("dev-928ngan9-1", {"read:api"}), ("dev-928ngan9-2", set())],
)
def test_rbac_permissions(jwks_server: LoopbackServer, name: str, permissions: set[str]) -> None:
    """RBAC permissions ["read:api"] and [] come out as frozensets; [] logs nothing."""
    validator, _ = make_validator(jwks_server, name)
    token = validator.validate(load(name)["token"])
    assert token.permissions == permissions
    assert isinstance(token.permissions, frozenset)


@pytest.mark.parametrize("name", ["voronenko-1", "voronenko-2", "dev-duzyayk4-1"])
def test_m2m_token_shape(jwks_server: LoopbackServer, name: str) -> None:
    """Client-credentials tokens: gty, sub "<client_id>@clients", azp as client_id."""
    claims = load(name)["claims"]
    validator, _ = make_validator(jwks_server, name, allowed_clients=[claims["azp"]])
    token = validator.validate(load(name)["token"])
    assert token.claims["gty"] == "client-credentials"
    assert token.subject.endswith("@clients")
    assert token.client_id == claims["azp"] == token.subject.removesuffix("@clients")
    assert token.audience == (claims["aud"],)
    expected_scopes = {"read:users"} if name == "dev-duzyayk4-1" else set()
    assert token.scopes == expected_scopes
    assert token.permissions == frozenset()


def test_m2m_token_from_another_client_is_refused(jwks_server: LoopbackServer) -> None:
    """allowed_clients compares against azp: another client ID is refused."""
    validator, _ = make_validator(jwks_server, "voronenko-1", allowed_clients=["someone-else"])
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(load("voronenko-1")["token"])
    assert excinfo.value.description == (
        "The access token was issued to a client that is not allowed."
    )


def test_namespaced_custom_claims_readable(jwks_server: LoopbackServer) -> None:
    """Hook-added namespaced claims are readable, and come before iss as Auth0 emits them."""
    validator, _ = make_validator(jwks_server, "voronenko-2")
    token = validator.validate(load("voronenko-2")["token"])
    assert token.claims["https://foo.com/claim"] == "bar"
    assert token.claims["https://foo.com/somehookattr"] == "somehookattrvalue"
    assert "somehookattr" not in token.claims  # Auth0 dropped the un-namespaced one
    assert list(token.claims)[:3] == [
        "https://foo.com/claim",
        "https://foo.com/somehookattr",
        "iss",
    ]


def test_string_custom_claim_as_roles_claim_gives_no_roles(
    jwks_server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    """ "https://foo.com/claim" holds a string: as a roles claim it yields no roles and a
    warning, never a substring match."""
    validator, _ = make_validator(
        jwks_server, "voronenko-2", roles_claims=["https://foo.com/claim"]
    )
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        token = validator.validate(load("voronenko-2")["token"])
    assert token.roles == frozenset()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("https://foo.com/claim" in r.getMessage() for r in warnings)
    assert any("string" in r.getMessage() for r in warnings)


def test_two_key_set_picks_key_by_kid(jwks_server: LoopbackServer) -> None:
    """dev-duzyayk4 publishes two keys; the token's kid picks the first, in any order."""
    pair = load("dev-duzyayk4-1")
    first, second = pair["jwks"]["keys"]
    assert pair["header"]["kid"] == first["kid"] != second["kid"]
    validator, url = make_validator(jwks_server, "dev-duzyayk4-1", jwks={"keys": [second, first]})
    token = validator.validate(pair["token"])
    assert token.key_thumbprint == rfc7638(first) != rfc7638(second)
    assert jwks_server.hits(url) == 1
    assert load("jwks-dev-duzyayk4")["jwks"] == pair["jwks"]


def test_other_key_of_two_key_set_does_not_verify(jwks_server: LoopbackServer) -> None:
    """The second dev-duzyayk4 key, alone or relabelled with the token's kid, fails."""
    pair = load("dev-duzyayk4-1")
    _, second = pair["jwks"]["keys"]
    alone, url = make_validator(jwks_server, "dev-duzyayk4-1", jwks={"keys": [second]})
    with pytest.raises(InvalidTokenError) as excinfo:
        alone.validate(pair["token"])
    assert excinfo.value.description == "The access token was signed by an unknown key."
    assert jwks_server.hits(url) == 1  # a freshly fetched set is not fetched again

    relabelled = {"keys": [dict(second, kid=pair["header"]["kid"])]}
    impostor, _ = make_validator(jwks_server, "dev-duzyayk4-1", jwks=relabelled)
    with pytest.raises(InvalidTokenError) as excinfo:
        impostor.validate(pair["token"])
    assert excinfo.value.description == "The access token signature is invalid."


# -- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ID_TOKENS)
def test_id_token_refused_as_access_token(jwks_server: LoopbackServer, name: str) -> None:
    """An ID token (aud = client_id) is refused by a validator for an API identifier."""
    pair = load(name)
    api = pair["claims"]["iss"] + "api/v2/"
    validator, _ = make_validator(jwks_server, name, audience=api)
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(pair["token"])
    assert type(excinfo.value) is InvalidTokenError
    assert excinfo.value.description == "The access token is not meant for this API."


def test_cross_tenant_token_refused_by_issuer(jwks_server: LoopbackServer) -> None:
    """dev-nn41…'s token against a validator for dev-j34…: untrusted issuer, no fetch."""
    victim = load("dev-j34aiglnx8fz83sc-1")
    attacker = load(CROSS_TENANT)
    assert attacker["claims"]["sub"] == victim["claims"]["sub"]
    validator, url = make_validator(jwks_server, "dev-j34aiglnx8fz83sc-1")
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(attacker["token"])
    assert excinfo.value.description == "The access token was issued by an untrusted issuer."
    assert jwks_server.hits(url) == 0


def test_cross_tenant_token_refused_by_keys(jwks_server: LoopbackServer) -> None:
    """dev-nn41…'s token checked with dev-j34…'s JWKS: unknown kid, or a bad signature
    when the key is relabelled with the token's kid."""
    attacker = load(CROSS_TENANT)
    victim_jwks = load("dev-j34aiglnx8fz83sc-1")["jwks"]
    validator, _ = make_validator(jwks_server, CROSS_TENANT, jwks=victim_jwks)
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(attacker["token"])
    assert excinfo.value.description == "The access token was signed by an unknown key."

    relabelled = {"keys": [dict(victim_jwks["keys"][0], kid=attacker["header"]["kid"])]}
    validator, _ = make_validator(jwks_server, CROSS_TENANT, jwks=relabelled)
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(attacker["token"])
    assert excinfo.value.description == "The access token signature is invalid."


@pytest.mark.parametrize(
    ("name", "tenant"),
    [(name, tenant) for name in ALL_TOKENS for tenant in TENANT_JWKS if tenant != tenant_of(name)],
)
def test_token_fails_with_another_tenants_keys(
    jwks_server: LoopbackServer, name: str, tenant: str
) -> None:
    """Every token, bound to every other tenant's keys: unknown kid, then bad signature."""
    pair = load(name)
    other = load(TENANT_JWKS[tenant])["jwks"]
    validator, _ = make_validator(jwks_server, name, jwks=other, audience="https://api.test")
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(pair["token"])
    assert excinfo.value.description == "The access token was signed by an unknown key."

    relabelled = {"keys": [dict(other["keys"][0], kid=pair["header"]["kid"])]}
    validator, _ = make_validator(jwks_server, name, jwks=relabelled, audience="https://api.test")
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(pair["token"])
    assert excinfo.value.description == "The access token signature is invalid."


def tamper_one_character(token: str) -> tuple[str, dict[str, Any]]:
    """Change one payload character so the payload stays canonical base64url and strict
    JSON with the same members and ``iss``: only the signature can catch it."""
    header, payload, signature = token.split(".")
    original = b64url_json(payload)
    for position in range(len(payload) // 3, len(payload) - 4):
        for char in B64URL_ALPHABET:
            if char == payload[position]:
                continue
            candidate = payload[:position] + char + payload[position + 1 :]
            raw = urlsafe_b64decode(candidate + "=" * (-len(candidate) % 4))
            if urlsafe_b64encode(raw).rstrip(b"=").decode() != candidate:
                continue
            try:
                claims = parse_json_object(raw, "payload")
            except InvalidTokenError:
                continue
            if claims.keys() == original.keys() and claims["iss"] == original["iss"]:
                assert claims != original
                return f"{header}.{candidate}.{signature}", claims
    raise AssertionError("no single-character change keeps the payload valid")


@pytest.mark.parametrize("name", ACCESS_TOKENS)
def test_one_changed_payload_character_is_refused(jwks_server: LoopbackServer, name: str) -> None:
    """A one-character payload change that still decodes fails the signature check."""
    pair = load(name)
    tampered, claims = tamper_one_character(pair["token"])
    assert tampered != pair["token"]
    assert len(tampered) == len(pair["token"])
    validator, _ = make_validator(jwks_server, name)
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(tampered)
    assert excinfo.value.description == "The access token signature is invalid."
    assert validator.validate(pair["token"]).claims["iss"] == claims["iss"]


@pytest.mark.parametrize("name", ACCESS_TOKENS)
def test_expired_after_exp(jwks_server: LoopbackServer, name: str) -> None:
    """At exp + 10 s the token is refused as expired."""
    pair = load(name)
    clock = Clock(pair["claims"]["exp"] + 10)
    validator, _ = make_validator(jwks_server, name, clock=clock)
    with pytest.raises(ExpiredTokenError):
        validator.validate(pair["token"])


def test_expiry_applies_to_cached_tokens(jwks_server: LoopbackServer) -> None:
    """A token accepted earlier is refused once the clock passes its exp."""
    pair = load("dev-928ngan9-1")
    clock = Clock(pair["claims"]["iat"] + 60)
    validator, _ = make_validator(jwks_server, "dev-928ngan9-1", clock=clock)
    validator.validate(pair["token"])
    clock.now = pair["claims"]["exp"] + 10
    with pytest.raises(ExpiredTokenError):
        validator.validate(pair["token"])


@pytest.mark.parametrize("name", ALL_TOKENS)
def test_strict_typ_refuses_jwt_typ(jwks_server: LoopbackServer, name: str) -> None:
    """Auth0's default profile writes typ "JWT": strict_typ refuses it before any fetch."""
    pair = load(name)
    assert pair["header"]["typ"] == "JWT"
    validator, url = make_validator(jwks_server, name, strict_typ=True)
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(pair["token"])
    assert excinfo.value.description == "The access token has an unsupported type."
    assert jwks_server.hits(url) == 0


# -- unverified shapes: claim parsing only ------------------------------------------


@functools.cache
def shapes() -> list[dict[str, Any]]:
    data = load("unverified-shapes")
    assert all(shape["verified"] is False for shape in data["shapes"])
    result: list[dict[str, Any]] = data["shapes"]
    return result


def shape_with(claim: str) -> dict[str, Any]:
    (match,) = [shape for shape in shapes() if claim in shape["claims"]]
    return match


def test_jhipster_namespaced_roles() -> None:
    """https://www.jhipster.tech/roles is read literally, or as an escaped JSON Pointer."""
    claims = freeze(shape_with("https://www.jhipster.tech/roles")["claims"])
    expected = {"Administrator", "ROLE_ADMIN", "ROLE_USER"}
    assert ClaimRules(["https://www.jhipster.tech/roles"]).roles(claims) == expected
    assert ClaimRules(["/https:~1~1www.jhipster.tech~1roles"]).roles(claims) == expected
    rules = ClaimRules("https://www.jhipster.tech/roles")
    assert rules.scopes(claims) == {"openid"}
    assert rules.permissions(claims) == frozenset()
    assert ClaimRules(["https://www.jhipster.tech/ROLES"]).roles(claims) == frozenset()


def test_fulqrom_roles_and_empty_permissions(caplog: pytest.LogCaptureFixture) -> None:
    """https://fulqrom.com.au/roles gives {"Admin"}; permissions [] is empty, silently."""
    claims = freeze(shape_with("https://fulqrom.com.au/roles")["claims"])
    rules = ClaimRules(["https://www.jhipster.tech/roles", "https://fulqrom.com.au/roles"])
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        assert rules.roles(claims) == {"Admin"}
        assert rules.permissions(claims) == frozenset()
        assert rules.scopes(claims) == {"openid", "profile", "email"}
    assert caplog.records == []
    assert api_audience(claims) == "https://api.fulqrom.com.au"


def test_rfc9068_m2m_shapes() -> None:
    """RFC 9068 M2M: typ at+jwt, client_id and jti, no gty/azp/scope: no roles or scopes."""
    m2m = [shape for shape in shapes() if (shape["header"] or {}).get("typ") == "at+jwt"]
    assert len(m2m) == 2
    rules = ClaimRules(["https://my-app.example.com/roles"])
    for shape in m2m:
        claims = freeze(shape["claims"])
        assert "gty" not in claims
        assert "azp" not in claims
        assert rules.roles(claims) == frozenset()
        assert rules.scopes(claims) == frozenset()
        assert rules.permissions(claims) == frozenset()
        token = VerifiedToken(
            claims=claims,
            header=freeze(shape["header"]),
            raw="",
            roles=frozenset(),
            permissions=frozenset(),
            scopes=frozenset(),
            key_thumbprint="",
        )
        assert token.client_id == claims["client_id"]
        assert token.subject == f"{claims['client_id']}@clients"
        assert token.audience == (claims["aud"],)


def test_rfc9068_m2m_shape_passes_strict_typ_when_signed() -> None:
    """Re-signed with a forged key, an RFC 9068 shape passes strict_typ; client_id maps."""
    shape = next(s for s in shapes() if (s["header"] or {}).get("typ") == "at+jwt")
    with ForgedIssuer(audience=shape["claims"]["aud"]) as issuer:
        claims = dict(shape["claims"], iss=issuer.issuer)
        header = dict(shape["header"], kid=issuer.kid)
        validator = issuer.validator(strict_typ=True, clock=lambda: claims["iat"] + 60)
        token = validator.validate(issuer.sign(header, claims))
    assert token.client_id == shape["claims"]["client_id"]
    assert token.header["typ"] == "at+jwt"


def test_userinfo_object_and_string_claims_give_no_roles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A namespaced object or string claim configured as roles gives none, with a warning."""
    claims = freeze(shape_with("https://example.com/yourcustomattrs")["claims"])
    for name, shape in [
        ("https://example.com/yourcustomattrs", "object"),
        ("https://example.com/favorite_color", "string"),
    ]:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="claimguard"):
            assert ClaimRules([name]).roles(claims) == frozenset()
        (record,) = caplog.records
        assert name in record.getMessage()
        assert shape in record.getMessage()
    nested = ClaimRules(["/https:~1~1example.com~1yourcustomattrs/objectattr1"])
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        assert nested.roles(claims) == frozenset()  # a string inside the object
