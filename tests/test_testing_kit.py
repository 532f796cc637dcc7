"""The test kit as a user meets it: ``ForgedIssuer`` and the ``forged_issuer`` fixture."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from base64 import urlsafe_b64decode
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
import pytest
import requests

from claimguard import ExpiredTokenError
from claimguard import InvalidTokenError
from claimguard import JWKSCache
from claimguard import KeySetUnavailableError
from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from claimguard.testing.issuer import KeyFile

pytest_plugins = ["pytester"]

ALGORITHMS = {
    "RS256": {"kty": "RSA"},
    "PS256": {"kty": "RSA"},
    "ES256": {"kty": "EC", "crv": "P-256"},
    "EdDSA": {"kty": "OKP", "crv": "Ed25519"},
}


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and payload of a compact JWS, unverified."""
    header, payload, _ = token.split(".")
    return b64url_json(header), b64url_json(payload)


def b64url_json(part: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def port_is_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


# -- the pytest fixture ------------------------------------------------------------


def test_fixture_gives_a_running_issuer(forged_issuer: ForgedIssuer) -> None:
    """forged_issuer is a running ForgedIssuer whose tokens its validator accepts."""
    assert isinstance(forged_issuer, ForgedIssuer)
    assert forged_issuer.algorithm == "RS256"
    token = forged_issuer.validator().validate(forged_issuer.mint(sub="auth0|42"))
    assert token.subject == "auth0|42"


def test_fixture_comes_from_entry_point_and_is_function_scoped(
    pytester: pytest.Pytester,
) -> None:
    """In a bare project (no conftest) the fixture exists, is fresh per test, and closed."""
    pytester.makepyfile(
        """
        import socket
        from urllib.parse import urlsplit

        seen = []

        def test_first(forged_issuer):
            seen.append((forged_issuer, urlsplit(forged_issuer.base_url).port))

        def test_second(forged_issuer):
            (first, port), = seen
            assert forged_issuer is not first
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "forged_issuer",
    [{"algorithm": name} for name in ALGORITHMS],
    indirect=True,
    ids=list(ALGORITHMS),
)
def test_fixture_indirect_algorithm(forged_issuer: ForgedIssuer) -> None:
    """Indirect parametrization picks the algorithm: key type, header and validation fit."""
    name = forged_issuer.algorithm
    (jwk,) = forged_issuer.jwks()["keys"]
    assert {key: jwk[key] for key in ALGORITHMS[name]} == ALGORITHMS[name]
    assert jwk["alg"] == name
    assert jwk["use"] == "sig"
    assert jwk["kid"] == forged_issuer.kid
    assert "d" not in jwk  # public half only
    token = forged_issuer.mint(roles=["admin"])
    assert decode(token)[0]["alg"] == name
    assert forged_issuer.validator().validate(token).roles == {"admin"}


def test_unsupported_algorithm_is_refused() -> None:
    """HS256 and none cannot be forged: the kit signs asymmetric algorithms only."""
    for name in ("HS256", "none"):
        with pytest.raises(ValueError, match="cannot sign"):
            ForgedIssuer(algorithm=name)


# -- addresses and discovery -------------------------------------------------------


def test_issuer_url_ends_with_slash_by_default(forged_issuer: ForgedIssuer) -> None:
    """The issuer ends with "/", like Auth0's, and is on 127.0.0.1."""
    assert forged_issuer.issuer.endswith("/")
    assert forged_issuer.issuer.startswith("http://127.0.0.1:")
    assert forged_issuer.jwks_url == forged_issuer.issuer + ".well-known/jwks.json"
    assert decode(forged_issuer.mint())[1]["iss"] == forged_issuer.issuer


@pytest.mark.parametrize("forged_issuer", [{"trailing_slash": False}], indirect=True)
def test_issuer_url_without_trailing_slash(forged_issuer: ForgedIssuer) -> None:
    """trailing_slash=False: no final "/", and discovery still finds the keys."""
    assert not forged_issuer.issuer.endswith("/")
    assert decode(forged_issuer.mint())[1]["iss"] == forged_issuer.issuer
    validator = forged_issuer.validator(key_set=JWKSCache.from_discovery(forged_issuer.issuer))
    validator.validate(forged_issuer.mint())
    assert forged_issuer.discovery_requests == 1


@pytest.mark.parametrize("forged_issuer", [{}, {"trailing_slash": False}], indirect=True)
def test_discovery_document_over_http(forged_issuer: ForgedIssuer) -> None:
    """Discovery names the issuer and jwks_uri; the JWKS serves the current key."""
    issuer = forged_issuer.issuer
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    assert url == forged_issuer.discovery_url
    with requests.Session() as session:
        discovery = session.get(url, timeout=5)
        assert discovery.status_code == 200
        assert discovery.headers["Content-Type"] == "application/json"
        document = discovery.json()
        assert document["issuer"] == issuer
        assert document["jwks_uri"] == forged_issuer.jwks_url
        jwks = session.get(document["jwks_uri"], timeout=5)
        assert jwks.status_code == 200
        assert jwks.json() == forged_issuer.jwks()
        assert [key["kid"] for key in jwks.json()["keys"]] == [forged_issuer.kid]
        assert session.get(issuer.rstrip("/") + "/nowhere", timeout=5).status_code == 404


def test_discovery_validator_path(forged_issuer: ForgedIssuer) -> None:
    """JWKSCache.from_discovery(issuer) fetches discovery once, then the JWKS once."""
    validator = forged_issuer.validator(key_set=JWKSCache.from_discovery(forged_issuer.issuer))
    for _ in range(3):
        validator.validate(forged_issuer.mint())
    assert (forged_issuer.discovery_requests, forged_issuer.jwks_requests) == (1, 1)


# -- minting -----------------------------------------------------------------------


def test_mint_defaults(forged_issuer: ForgedIssuer) -> None:
    """mint(): iss, aud, sub, iat now and exp an hour later; header alg, typ, kid."""
    before = int(time.time())
    header, payload = decode(forged_issuer.mint())
    after = time.time()
    assert header == {"alg": "RS256", "typ": "JWT", "kid": forged_issuer.kid}
    assert payload["iss"] == forged_issuer.issuer
    assert payload["aud"] == forged_issuer.audience == "https://api.example.test"
    assert isinstance(payload["sub"], str)
    assert payload["sub"]
    assert before <= payload["iat"] <= after
    assert payload["exp"] == payload["iat"] + 3600
    assert set(payload) == {"iss", "aud", "sub", "iat", "exp"}
    assert forged_issuer.roles_claim == "https://my-app.example.com/roles"


def test_mint_overrides(forged_issuer: ForgedIssuer) -> None:
    """aud=, iss=, extra claims, sub=None and headers= override the defaults."""
    header, payload = decode(
        forged_issuer.mint(
            aud=["https://other.example", "https://x/userinfo"],
            iss="https://elsewhere.example/",
            sub=None,
            azp="client-1",
            headers={"kid": "chosen-kid"},
        )
    )
    assert payload["aud"] == ["https://other.example", "https://x/userinfo"]
    assert payload["iss"] == "https://elsewhere.example/"
    assert "sub" not in payload
    assert payload["azp"] == "client-1"
    assert header["kid"] == "chosen-kid"
    assert "typ" not in decode(forged_issuer.mint(headers={"typ": None}))[0]
    assert decode(forged_issuer.mint(headers={"typ": "at+jwt"}))[0]["typ"] == "at+jwt"


def test_overridden_tokens_are_refused(forged_issuer: ForgedIssuer) -> None:
    """The validator refuses what the overrides break: aud, iss, sub, kid."""
    validator = forged_issuer.validator()
    cases = {
        "The access token is not meant for this API.": {"aud": "https://other.example"},
        "The access token was issued by an untrusted issuer.": {"iss": "https://evil.example/"},
        "The access token has invalid claims.": {"sub": None},
        "The access token was signed by an unknown key.": {"headers": {"kid": "nope"}},
    }
    for description, overrides in cases.items():
        with pytest.raises(InvalidTokenError) as excinfo:
            validator.validate(forged_issuer.mint(**overrides))
        assert excinfo.value.description == description


def test_typ_header_and_strict_typ(forged_issuer: ForgedIssuer) -> None:
    """Default typ "JWT" fails strict_typ; headers={"typ": "at+jwt"} passes it."""
    validator = forged_issuer.validator(strict_typ=True)
    with pytest.raises(InvalidTokenError):
        validator.validate(forged_issuer.mint())
    with pytest.raises(InvalidTokenError):
        validator.validate(forged_issuer.mint(headers={"typ": None}))
    validator.validate(forged_issuer.mint(headers={"typ": "at+jwt"}))


def test_roles_scope_permissions(forged_issuer: ForgedIssuer) -> None:
    """roles= writes the roles claim; scope= a space-separated string; permissions= a list."""
    token = forged_issuer.mint(
        roles=["admin", "viewer"], scope=["read:products", "write:products"], permissions=["p:1"]
    )
    payload = decode(token)[1]
    assert payload[forged_issuer.roles_claim] == ["admin", "viewer"]
    assert payload["scope"] == "read:products write:products"
    assert payload["permissions"] == ["p:1"]
    verified = forged_issuer.validator().validate(token)
    assert verified.roles == {"admin", "viewer"}
    assert verified.scopes == {"read:products", "write:products"}
    assert verified.permissions == {"p:1"}
    assert decode(forged_issuer.mint(scope="a b"))[1]["scope"] == "a b"


@pytest.mark.parametrize(
    "forged_issuer", [{"roles_claim": "https://other.example/roles"}], indirect=True
)
def test_custom_roles_claim(forged_issuer: ForgedIssuer) -> None:
    """roles_claim= moves where mint(roles=...) writes and where validator() reads."""
    token = forged_issuer.mint(roles=["editor"])
    assert decode(token)[1]["https://other.example/roles"] == ["editor"]
    assert forged_issuer.validator().validate(token).roles == {"editor"}


def test_expired_token(forged_issuer: ForgedIssuer) -> None:
    """expires_in=-60 mints a token the validator refuses as expired."""
    token = forged_issuer.mint(roles=["admin"], expires_in=-60)
    payload = decode(token)[1]
    assert payload["exp"] < time.time() - 50
    with pytest.raises(ExpiredTokenError):
        forged_issuer.validator().validate(token)


def test_sign_forges_arbitrary_parts(forged_issuer: ForgedIssuer) -> None:
    """sign() signs any header and raw payload bytes, e.g. duplicate claim names."""
    payload = forged_issuer.claims(sub="auth0|1")
    header = {"alg": "RS256", "kid": forged_issuer.kid}
    validator = forged_issuer.validator()
    assert validator.validate(forged_issuer.sign(header, payload)).subject == "auth0|1"
    duplicated = json.dumps(payload)[:-1] + ', "sub": "auth0|admin"}'
    with pytest.raises(InvalidTokenError):
        validator.validate(forged_issuer.sign(header, duplicated.encode()))


# -- keys --------------------------------------------------------------------------


def kids(issuer: ForgedIssuer) -> list[str]:
    with requests.get(issuer.jwks_url, timeout=5) as response:
        return [key["kid"] for key in response.json()["keys"]]


def test_rotate_publishes_new_key_and_keeps_old(forged_issuer: ForgedIssuer) -> None:
    """rotate(): new kid signs and is published; the old one stays; both tokens pass."""
    validator = forged_issuer.validator()
    old_kid = forged_issuer.kid
    old_token = forged_issuer.mint()
    validator.validate(old_token)
    new_key = forged_issuer.rotate()
    assert isinstance(new_key, ForgedKey)
    assert forged_issuer.kid == new_key.kid != old_kid
    assert kids(forged_issuer) == [old_kid, new_key.kid]
    new_token = forged_issuer.mint()
    assert decode(new_token)[0]["kid"] == new_key.kid
    validator.validate(new_token)  # unknown kid: one refetch finds it
    validator.validate(old_token)
    assert forged_issuer.jwks_requests == 3  # validator: 2, kids(): 1


def test_rotate_without_publishing(forged_issuer: ForgedIssuer) -> None:
    """rotate(publish=False) signs with a key the JWKS does not show until publish()."""
    validator = forged_issuer.validator(key_set=forged_issuer.key_set(cooldown=0))
    old_kid = forged_issuer.kid
    key = forged_issuer.rotate(publish=False)
    assert kids(forged_issuer) == [old_kid]
    token = forged_issuer.mint()
    assert decode(token)[0]["kid"] == key.kid
    with pytest.raises(InvalidTokenError) as excinfo:
        validator.validate(token)
    assert excinfo.value.description == "The access token was signed by an unknown key."
    forged_issuer.publish(key)
    assert kids(forged_issuer) == [old_kid, key.kid]
    validator.validate(token)


def test_retire_leaves_only_current_key(forged_issuer: ForgedIssuer) -> None:
    """retire() unpublishes every key but the current one; old tokens then fail."""
    first_token = forged_issuer.mint()
    forged_issuer.rotate()
    forged_issuer.rotate()
    assert len(kids(forged_issuer)) == 3
    forged_issuer.retire()
    assert kids(forged_issuer) == [forged_issuer.kid]
    assert [key.kid for key in forged_issuer.published_keys] == [forged_issuer.kid]
    validator = forged_issuer.validator()
    validator.validate(forged_issuer.mint())
    with pytest.raises(InvalidTokenError):
        validator.validate(first_token)


def test_mint_with_explicit_key(forged_issuer: ForgedIssuer) -> None:
    """mint(key=...) signs with another key, e.g. an unpublished impostor with our kid."""
    impostor = ForgedKey.generate("RS256", kid=forged_issuer.kid)
    token = forged_issuer.mint(key=impostor)
    assert decode(token)[0]["kid"] == forged_issuer.kid
    with pytest.raises(InvalidTokenError) as excinfo:
        forged_issuer.validator().validate(token)
    assert excinfo.value.description == "The access token signature is invalid."


# -- failures and counters ---------------------------------------------------------


def test_outage_answers_503(forged_issuer: ForgedIssuer) -> None:
    """outage(): JWKS and discovery answer 503 inside, 200 again after."""
    urls = (forged_issuer.jwks_url, forged_issuer.discovery_url)
    with requests.Session() as session:
        with forged_issuer.outage():
            assert [session.get(url, timeout=5).status_code for url in urls] == [503, 503]
            with pytest.raises(KeySetUnavailableError):
                forged_issuer.validator().validate(forged_issuer.mint())
        assert [session.get(url, timeout=5).status_code for url in urls] == [200, 200]
    forged_issuer.validator().validate(forged_issuer.mint())


def test_jwks_response_override(forged_issuer: ForgedIssuer) -> None:
    """jwks_response() answers exactly the given body, status, headers, after a delay."""
    with requests.Session() as session:
        with forged_issuer.jwks_response({"keys": []}):
            response = session.get(forged_issuer.jwks_url, timeout=5)
            assert (response.status_code, response.json()) == (200, {"keys": []})
        with forged_issuer.jwks_response(
            "oops", status=500, headers={"X-Test": "1", "Content-Type": "text/plain"}, delay=0.2
        ):
            started = time.monotonic()
            response = session.get(forged_issuer.jwks_url, timeout=5)
            assert time.monotonic() - started >= 0.2
            assert (response.status_code, response.text) == (500, "oops")
            assert response.headers["X-Test"] == "1"
            discovery = session.get(forged_issuer.discovery_url, timeout=5)
            assert discovery.status_code == 200  # only the JWKS is overridden
        validator, token = forged_issuer.validator(), forged_issuer.mint()
        with forged_issuer.jwks_response(b"\x00not json"), pytest.raises(KeySetUnavailableError):
            validator.validate(token)
        assert session.get(forged_issuer.jwks_url, timeout=5).json() == forged_issuer.jwks()


def test_request_counters(forged_issuer: ForgedIssuer) -> None:
    """jwks_requests and discovery_requests count the fetches served (outages too)."""
    assert (forged_issuer.jwks_requests, forged_issuer.discovery_requests) == (0, 0)
    validator = forged_issuer.validator()
    for _ in range(3):
        validator.validate(forged_issuer.mint())
    assert forged_issuer.jwks_requests == 1  # cached after the first fetch
    with requests.Session() as session:
        session.get(forged_issuer.discovery_url, timeout=5)
        with forged_issuer.outage():
            session.get(forged_issuer.discovery_url, timeout=5)
            session.get(forged_issuer.jwks_url, timeout=5)
    assert (forged_issuer.jwks_requests, forged_issuer.discovery_requests) == (2, 2)


# -- wiring ------------------------------------------------------------------------


def test_configure_flask_app(forged_issuer: ForgedIssuer) -> None:
    """configure(app) sets the CLAIMGUARD_* keys that trust this issuer; config() too."""
    app = flask.Flask(__name__)
    app.config["CLAIMGUARD_LEEWAY"] = 2
    forged_issuer.configure(app)
    expected = {
        "CLAIMGUARD_ISSUER": forged_issuer.issuer,
        "CLAIMGUARD_AUDIENCE": forged_issuer.audience,
        "CLAIMGUARD_JWKS_URL": forged_issuer.jwks_url,
        "CLAIMGUARD_ROLES_CLAIM": forged_issuer.roles_claim,
        "CLAIMGUARD_ALGORITHMS": ["RS256"],
    }
    assert forged_issuer.config() == expected
    assert {key: app.config[key] for key in expected} == expected
    assert app.config["CLAIMGUARD_LEEWAY"] == 2  # other settings are left alone
    assert "claimguard" not in app.extensions


@pytest.mark.parametrize("forged_issuer", [{"algorithm": "ES256"}], indirect=True)
def test_config_follows_options(forged_issuer: ForgedIssuer) -> None:
    """config() reflects the algorithm and audience chosen."""
    assert forged_issuer.config()["CLAIMGUARD_ALGORITHMS"] == ["ES256"]
    with ForgedIssuer(audience="https://products.example.com") as other:
        assert other.config()["CLAIMGUARD_AUDIENCE"] == "https://products.example.com"
        assert decode(other.mint())[1]["aud"] == "https://products.example.com"


def test_validator_helper(forged_issuer: ForgedIssuer) -> None:
    """validator() trusts this issuer only; options and key_set= pass through."""
    token = forged_issuer.mint(roles=["viewer"])
    assert forged_issuer.validator().validate(token).roles == {"viewer"}
    with pytest.raises(InvalidTokenError):
        forged_issuer.validator(audiences="https://someone-else.example").validate(token)
    assert forged_issuer.validator(roles_claims=()).validate(token).roles == frozenset()
    key_set = forged_issuer.key_set(ttl=60)
    assert key_set.url == forged_issuer.jwks_url
    forged_issuer.validator(key_set=key_set).validate(token)
    with ForgedIssuer() as stranger:
        foreign = stranger.mint()
    with pytest.raises(InvalidTokenError):
        forged_issuer.validator().validate(foreign)


def test_close_frees_the_port() -> None:
    """close() stops the server and frees its port; it is idempotent; `with` closes."""
    issuer = ForgedIssuer()
    port = urlsplit(issuer.base_url).port
    assert port is not None
    assert not port_is_closed(port)
    issuer.close()
    assert port_is_closed(port)
    issuer.close()
    with ForgedIssuer() as scoped:
        port = urlsplit(scoped.base_url).port
        assert port is not None
    assert port_is_closed(port)


# -- the plugin costs nothing until used ----------------------------------------------

_IMPORT_PROBE = """
import json, sys
import pytest
import claimguard
before = set(sys.modules)
import claimguard.testing.pytest_plugin
heavy = ("cryptography", "requests", "jwt", "flask", "claimguard.testing.issuer")
print(json.dumps({
    "added": sorted(set(sys.modules) - before),
    "heavy": [name for name in heavy if name in sys.modules],
}))
"""


def run_probe(code: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_plugin_import_adds_nothing_beyond_the_package() -> None:
    """Importing the plugin loads only itself and claimguard.testing, not the issuer."""
    result = run_probe(_IMPORT_PROBE)
    assert result["added"] == ["claimguard.testing", "claimguard.testing.pytest_plugin"]
    assert "claimguard.testing.issuer" not in result["heavy"]


def test_plugin_import_is_light() -> None:
    """In a fresh interpreter the plugin import pulls in no HTTP, crypto or Flask stack."""
    result = run_probe(_IMPORT_PROBE.replace("import claimguard\n", ""))
    assert result["heavy"] == []


# -- configure() and build_app(): the app's own audience and roles claim ----------------

APP_AUDIENCE = "https://orders.example.com"
APP_ROLES = "https://acme.example/roles"


def admin_app(**config: Any) -> flask.Flask:
    """An app with its own audience and roles claim (unless ``config`` says otherwise)
    and one admin-only route; claimguard not set up yet."""
    from claimguard import requires_role

    app = flask.Flask(__name__)
    app.config.update(
        {"CLAIMGUARD_AUDIENCE": APP_AUDIENCE, "CLAIMGUARD_ROLES_CLAIM": APP_ROLES, **config}
    )
    app.add_url_rule("/admin", "admin", requires_role("admin")(lambda: "ok"))
    return app


def set_up(app: flask.Flask, *, two_step: bool = False) -> None:
    """``ClaimGuard(app)``, or ``ClaimGuard().init_app(app)`` with ``two_step``."""
    from claimguard import ClaimGuard

    if two_step:
        ClaimGuard().init_app(app)
    else:
        ClaimGuard(app)


def status(app: flask.Flask, token: str) -> int:
    response = app.test_client().get("/admin", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def test_configure_keeps_the_apps_audience_and_roles_claim(forged_issuer: ForgedIssuer) -> None:
    """The app keeps its audience and roles claim; the issuer mints for them, so roles
    under any other claim name do not pass."""
    app = admin_app()
    forged_issuer.configure(app)
    assert app.config["CLAIMGUARD_AUDIENCE"] == APP_AUDIENCE
    assert app.config["CLAIMGUARD_ROLES_CLAIM"] == APP_ROLES
    assert app.config["CLAIMGUARD_ISSUER"] == forged_issuer.issuer
    assert (forged_issuer.audience, forged_issuer.roles_claim) == (APP_AUDIENCE, APP_ROLES)
    set_up(app)
    token = forged_issuer.mint(roles=["admin"])
    assert decode(token)[1]["aud"] == APP_AUDIENCE
    assert decode(token)[1][APP_ROLES] == ["admin"]
    assert status(app, token) == 200
    elsewhere = forged_issuer.mint(**{"https://my-app.example.com/roles": ["admin"]})
    assert status(app, elsewhere) == 403


def test_configure_follows_lists_and_json_pointers(forged_issuer: ForgedIssuer) -> None:
    """A listed audience or roles claim: the first is followed. A JSON Pointer claim is
    minted as nested objects, where claimguard reads it."""
    app = admin_app(
        CLAIMGUARD_AUDIENCE=["https://first.example", "https://second.example"],
        CLAIMGUARD_ROLES_CLAIM=["/realm_access/roles", APP_ROLES],
    )
    forged_issuer.configure(app)
    set_up(app)
    token = forged_issuer.mint(roles=["admin"])
    payload = decode(token)[1]
    assert payload["aud"] == "https://first.example"
    assert payload["realm_access"] == {"roles": ["admin"]}
    assert status(app, token) == 200


def test_configure_override_uses_the_issuers_own(forged_issuer: ForgedIssuer) -> None:
    """override=True: the issuer's audience and roles claim replace the app's."""
    app = admin_app()
    forged_issuer.configure(app, override=True)
    assert app.config["CLAIMGUARD_AUDIENCE"] == "https://api.example.test"
    assert app.config["CLAIMGUARD_ROLES_CLAIM"] == "https://my-app.example.com/roles"
    assert forged_issuer.audience == "https://api.example.test"
    set_up(app)
    assert status(app, forged_issuer.mint(roles=["admin"])) == 200


def test_configure_makes_the_app_trust_this_issuer_only(forged_issuer: ForgedIssuer) -> None:
    """An Auth0 domain is removed: the app must not trust the real tenant in a test."""
    app = admin_app(CLAIMGUARD_DOMAIN="tenant.example.com", CLAIMGUARD_LEEWAY=2)
    forged_issuer.configure(app)
    assert "CLAIMGUARD_DOMAIN" not in app.config
    assert app.config["CLAIMGUARD_JWKS_URL"] == forged_issuer.jwks_url
    assert app.config["CLAIMGUARD_LEEWAY"] == 2
    set_up(app)
    assert status(app, forged_issuer.mint(roles=["admin"])) == 200


@pytest.mark.parametrize("two_step", [False, True], ids=["ClaimGuard(app)", "init_app(app)"])
def test_configure_after_set_up_fails_and_says_what_to_do(
    forged_issuer: ForgedIssuer, two_step: bool
) -> None:
    """Too late is an error that names the fix, and the app's settings stay as they were."""
    app = admin_app(CLAIMGUARD_DOMAIN="tenant.example.com")
    set_up(app, two_step=two_step)
    before = dict(app.config)
    with pytest.raises(RuntimeError, match="came too late") as excinfo:
        forged_issuer.configure(app)
    message = str(excinfo.value)
    assert "before ClaimGuard(app) / guard.init_app(app)" in message
    assert "build_app(create_app)" in message
    assert dict(app.config) == before
    assert forged_issuer.audience == "https://api.example.test"  # nothing adopted


def create_app(config: Any = None) -> flask.Flask:
    """An app factory in the usual shape: its own settings, then ``config`` over them."""
    app = admin_app(CLAIMGUARD_DOMAIN="tenant.example.com")
    app.config.update(config or {})
    set_up(app)
    return app


def test_build_app_with_an_app_factory(forged_issuer: ForgedIssuer) -> None:
    """build_app(create_app, config): the factory gets config plus the issuer's trust
    settings; the app keeps its audience and roles claim; the issuer follows them."""
    app = forged_issuer.build_app(create_app, {"TESTING": True})
    assert app.config["TESTING"] is True
    assert app.config["CLAIMGUARD_ISSUER"] == forged_issuer.issuer
    assert app.config["CLAIMGUARD_DOMAIN"] is None
    assert app.config["CLAIMGUARD_AUDIENCE"] == APP_AUDIENCE
    assert (forged_issuer.audience, forged_issuer.roles_claim) == (APP_AUDIENCE, APP_ROLES)
    assert status(app, forged_issuer.mint(roles=["admin"])) == 200
    assert status(app, forged_issuer.mint(roles=["viewer"])) == 403


def test_build_app_override(forged_issuer: ForgedIssuer) -> None:
    """override=True also passes the issuer's audience and roles claim to the factory."""
    app = forged_issuer.build_app(create_app, override=True)
    assert app.config["CLAIMGUARD_AUDIENCE"] == forged_issuer.audience == "https://api.example.test"
    assert status(app, forged_issuer.mint(roles=["admin"])) == 200


def test_build_app_refuses_a_factory_that_drops_its_config(forged_issuer: ForgedIssuer) -> None:
    """A factory that ignores the mapping builds an app trusting another issuer: an error."""

    def stubborn(config: Any) -> flask.Flask:
        return create_app()

    with pytest.raises(RuntimeError, match=r"stubborn\(config\) built does not trust"):
        forged_issuer.build_app(stubborn)


# -- the fixture shows why requests were refused ----------------------------------------


def test_failing_test_shows_the_refusal_reason(pytester: pytest.Pytester) -> None:
    """A failing test's report holds claimguard's "refused" line with its reason; the
    logger's level is restored after the test."""
    pytester.makepyfile(
        """
        import logging

        from flask import Flask
        from claimguard import ClaimGuard, requires_role

        def test_admin(forged_issuer):
            app = Flask(__name__)
            app.config["CLAIMGUARD_ROLES_CLAIM"] = "https://my-app.example.com/roles"
            forged_issuer.configure(app)
            ClaimGuard(app)
            app.add_url_rule("/admin", "admin", requires_role("admin")(lambda: "ok"))
            token = forged_issuer.mint(roles=["admin"], aud="https://another-api.example")
            client = app.test_client()
            response = client.get("/admin", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200

        def test_level_restored():
            assert logging.getLogger("claimguard").level == logging.NOTSET
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*- Captured log call -*", '*INFO*claimguard*refused GET "/admin": 401 *aud*']
    )


# -- a fixed port, given keys, and the key file ---------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_fixed_port_is_served_and_a_taken_one_is_an_error() -> None:
    port = _free_port()
    with ForgedIssuer(port=port) as issuer:
        assert issuer.issuer == f"http://127.0.0.1:{port}/"
        assert requests.get(issuer.jwks_url, timeout=5).json() == issuer.jwks()
        with pytest.raises(OSError, match="in use") as taken:
            ForgedIssuer(port=port)
        assert taken.value.errno == errno.EADDRINUSE


def test_given_keys_sign_and_are_all_published() -> None:
    old, new = ForgedKey.generate("ES256"), ForgedKey.generate("ES256")
    with ForgedIssuer(keys=[old, new]) as issuer:
        assert issuer.algorithm == "ES256"
        assert issuer.kid == new.kid
        assert [jwk["kid"] for jwk in issuer.jwks()["keys"]] == [old.kid, new.kid]
        assert decode(issuer.mint())[0]["kid"] == new.kid
        issuer.validator().validate(
            issuer.sign({"alg": "ES256", "kid": old.kid}, issuer.claims(), key=old)
        )


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_key_survives_pem(algorithm: str) -> None:
    key = ForgedKey.generate(algorithm)
    again = ForgedKey.from_pem(key.kid, algorithm, key.private_pem())
    assert again.public_jwk() == key.public_jwk()
    header = {"alg": algorithm, "kid": key.kid}
    with ForgedIssuer(keys=[key]) as issuer:
        assert issuer.validator().validate(again.sign(header, issuer.claims(sub="pem")))


def test_a_pem_of_another_key_type_is_refused() -> None:
    rsa_pem = ForgedKey.generate("RS256").private_pem()
    with pytest.raises(ValueError, match="not a ES256 private key"):
        ForgedKey.from_pem("k", "ES256", rsa_pem)


def test_a_saved_issuer_keeps_its_rotated_keys(tmp_path: Path) -> None:
    path = tmp_path / "issuer.json"
    with ForgedIssuer(audience="https://api.example.test/a", roles_claim="/realm/roles") as first:
        first.rotate()
        first.save(path)
        kids = [key.kid for key in first.published_keys]
        token = first.mint(roles=["admin"])
    with ForgedIssuer.load(path) as second:
        assert [key.kid for key in second.published_keys] == kids
        assert second.kid == kids[-1]
        assert second.roles_claim == "/realm/roles"
        assert second.validator().validate(token).roles == frozenset({"admin"})


def test_load_on_another_port_moves_the_issuer(tmp_path: Path) -> None:
    path = tmp_path / "issuer.json"
    with ForgedIssuer() as first:
        first.save(path)
        # The saved port is still taken by the first: load it elsewhere.
        with ForgedIssuer.load(path, port=0) as moved:
            assert moved.issuer != first.issuer
            assert moved.kid == first.kid


def test_a_key_file_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = KeyFile("http://127.0.0.1:1/", "aud", "roles", (ForgedKey.generate(),)).write(
        tmp_path / "issuer.json"
    )
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(path).st_uid + 1)
    with pytest.raises(PermissionError, match="belongs to another user"):
        KeyFile.read(path)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"format": "something else"}',
        '{"format": "claimguard.forged-issuer/1", "issuer": "i", "audience": "a", '
        '"roles_claim": "r", "keys": []}',
        '{"format": "claimguard.forged-issuer/1", "issuer": "i", "audience": "a", '
        '"roles_claim": "r", "keys": [{"kid": "k", "alg": "RS256", "private_key_pem": "x"}]}',
    ],
)
def test_a_broken_key_file_is_a_value_error(tmp_path: Path, document: str) -> None:
    path = tmp_path / "issuer.json"
    path.write_text(document)
    path.chmod(0o600)
    with pytest.raises(ValueError, match="is not a ForgedIssuer key file"):
        KeyFile.read(path)
