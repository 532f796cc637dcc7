"""``flask claimguard explain``: the validation a request gets, check by check, on genuine
Auth0 tokens (expired: exactly what a user pastes) and on forged ones for every other
kind of failure; its verdict always equals :meth:`TokenValidator.validate`'s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from auth0_fixtures import api_audience
from auth0_fixtures import load
from auth0_fixtures import require
from claimguard import ClaimGuardError
from claimguard import TokenValidator
from claimguard.cli import cli
from claimguard.explanation import FAILED
from claimguard.explanation import PASSED
from claimguard.explanation import SKIPPED
from claimguard.explanation import explain
from claimguard.testing import ForgedIssuer
from example_api import create_app
from loopback import LoopbackServer

require()

AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as forged:
        yield forged


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def products_api(**config: Any) -> Flask:
    return create_app({"TESTING": True, "EXAMPLE_API_DATABASE": ":memory:", **config})


def forged_api(issuer: ForgedIssuer) -> Flask:
    return products_api(**issuer.config())


def tenant_api(server: LoopbackServer, name: str, **config: Any) -> Flask:
    """example_api trusting the tenant of fixture ``name``, its JWKS served on loopback."""
    claims = load(name)["claims"]
    settings = {
        "CLAIMGUARD_ISSUER": claims["iss"],
        "CLAIMGUARD_JWKS_URL": server.serve(load(name)["jwks"]),
        "CLAIMGUARD_AUDIENCE": api_audience(claims) if "aud" in claims else AUDIENCE,
    }
    return products_api(**{**settings, **config})


def run(app: Flask, *args: str, stdin: str | None = None) -> Result:
    return app.test_cli_runner().invoke(cli, ["explain", *args], input=stdin)


def as_json(app: Flask, token: str) -> dict[str, Any]:
    result = run(app, token, "--json")
    document: dict[str, Any] = json.loads(result.output)
    assert result.exit_code == (0 if document["accepted"] else 1)
    return document


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {step["check"]: step["status"] for step in document["steps"]}


def route(document: dict[str, Any], rule: str, method: str) -> dict[str, Any]:
    (entry,) = [
        entry
        for entry in document["routes"]
        if entry["rule"] == rule and method in entry["methods"]
    ]
    return entry


# -- genuine Auth0 tokens ----------------------------------------------------------------


def test_an_expired_auth0_access_token_passes_every_check_but_its_lifetime(
    jwks_server: LoopbackServer,
) -> None:
    app = tenant_api(jwks_server, "dev-928ngan9-1")
    document = as_json(app, load("dev-928ngan9-1")["token"])
    assert document["reason"] == "token.expired"
    assert document["status"] == 401
    assert "new token" in document["fix"]
    checks = statuses(document)
    assert checks.pop("lifetime") == FAILED
    assert set(checks.values()) == {PASSED}
    assert document["permissions"] == ["read:api"]
    assert document["scopes"] == ["email", "openid", "profile"]
    assert document["roles"] == []
    assert any("No roles claim" in hint for hint in document["hints"])
    # Refused now; were it fresh, /me would take it and the role routes would not.
    me = route(document, "/me", "GET")
    assert me["answer"] == "refuse token.expired (401)"
    assert me["answer_if_fresh"] == "pass"
    assert route(document, "/products", "GET")["answer_if_fresh"] == ("refuse roles.missing (403)")
    assert route(document, "/health", "GET")["answer"] == "pass (public)"


def test_an_auth0_id_token_is_refused_for_its_audience_and_named(
    jwks_server: LoopbackServer,
) -> None:
    app = tenant_api(jwks_server, "dev-ubofe255-1", CLAIMGUARD_AUDIENCE=AUDIENCE)
    result = run(app, load("dev-ubofe255-1")["token"])
    assert result.exit_code == 1
    assert "Verdict: refused, token.audience (401)" in result.output
    assert "looks like an ID token" in result.output
    # The signature is still checked and shown, though the verdict came first.
    assert "ok    signature" in result.output
    assert "FAIL  lifetime" in result.output


def test_a_token_from_another_tenant_is_refused_for_its_issuer_without_a_fetch(
    jwks_server: LoopbackServer,
) -> None:
    jwks_url = jwks_server.serve(load("dev-j34aiglnx8fz83sc-1")["jwks"])
    app = tenant_api(jwks_server, "dev-j34aiglnx8fz83sc-1", CLAIMGUARD_JWKS_URL=jwks_url)
    document = as_json(app, load("dev-nn41qmsm56z6ffw2-1")["token"])
    assert document["reason"] == "token.issuer"
    checks = statuses(document)
    assert checks["key"] == SKIPPED
    assert checks["signature"] == SKIPPED
    assert jwks_server.hits(jwks_url) == 0


def test_an_auth0_token_against_another_key_set_names_the_unknown_kid(
    jwks_server: LoopbackServer,
) -> None:
    common = load("jwks-common-auth0")["jwks"]
    app = tenant_api(jwks_server, "dev-928ngan9-1", CLAIMGUARD_JWKS_URL=jwks_server.serve(common))
    document = as_json(app, load("dev-928ngan9-1")["token"])
    assert document["reason"] == "key.unknown_kid"
    assert statuses(document)["signature"] == SKIPPED


def test_an_altered_auth0_token_fails_its_signature(jwks_server: LoopbackServer) -> None:
    header, payload, signature = load("voronenko-2")["token"].split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    app = tenant_api(jwks_server, "voronenko-2")
    document = as_json(app, f"{header}.{flipped}.{signature}")
    # The change may break the JSON, or only the signature: either way it is refused.
    assert document["reason"] in {"token.signature", "token.malformed"}
    assert not document["accepted"]


# -- every other kind of failure, forged -------------------------------------------------


def test_an_accepted_token_exits_0_and_shows_each_route(issuer: ForgedIssuer) -> None:
    app = forged_api(issuer)
    document = as_json(app, issuer.mint(roles=["editor"]))
    assert document["accepted"] is True
    assert document["reason"] is None
    assert set(statuses(document).values()) == {PASSED}
    assert document["roles"] == ["editor"]
    assert route(document, "/products", "POST")["answer"] == "pass"
    assert route(document, "/products/<product_id:product_id>", "DELETE")["answer"] == (
        "refuse roles.missing (403)"
    )
    assert "answer_if_fresh" not in route(document, "/products", "POST")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"expires_in": -600}, "token.expired"),
        ({"aud": "https://other.example.com"}, "token.audience"),
        ({"iss": "https://attacker.example.com/"}, "token.issuer"),
        ({"nbf": 4_000_000_000}, "token.not_yet_valid"),
        ({"sub": None}, "token.claims"),
        ({"iat": None}, "token.claims"),
        ({"cnf": {"jkt": "abc"}}, "token.bound"),
    ],
)
def test_each_claim_failure_is_named(
    issuer: ForgedIssuer, claims: dict[str, Any], reason: str
) -> None:
    app = forged_api(issuer)
    document = as_json(app, issuer.mint(roles=["admin"], **claims))
    assert document["reason"] == reason
    failed = [step for step in document["steps"] if step["status"] == FAILED]
    assert failed[0]["reason"] == reason


def test_an_unknown_kid_is_named(issuer: ForgedIssuer) -> None:
    document = as_json(forged_api(issuer), issuer.mint(headers={"kid": "no-such-key"}))
    assert document["reason"] == "key.unknown_kid"


def test_roles_under_another_claim_name_are_pointed_out(issuer: ForgedIssuer) -> None:
    token = issuer.mint(**{"https://other-app.example.com/roles": ["admin"]})
    app = forged_api(issuer)
    document = as_json(app, token)
    assert document["accepted"] is True  # the token is fine; the routes are not
    assert document["roles"] == []
    assert any("https://other-app.example.com/roles" in hint for hint in document["hints"])
    assert route(document, "/products", "GET")["answer"] == "refuse roles.missing (403)"


def test_an_opaque_token_is_recognised(issuer: ForgedIssuer) -> None:
    result = run(forged_api(issuer), "k3Jx9QpV2mWZ8tYb4Lc7Hn1Ds6Fa0GeR")
    assert result.exit_code == 1
    assert "[token.malformed]" in result.output
    assert "opaque" in result.output
    assert "signature" not in result.output  # nothing after the shape can run


def test_an_encrypted_token_is_recognised(issuer: ForgedIssuer) -> None:
    result = run(forged_api(issuer), "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn")
    assert result.exit_code == 1
    assert "Verdict: refused, token.encrypted (401)" in result.output
    assert "encrypted" in result.output


def test_an_id_token_type_is_refused_whatever_else(issuer: ForgedIssuer) -> None:
    document = as_json(forged_api(issuer), issuer.mint(headers={"typ": "dpop+jwt"}))
    assert document["reason"] == "token.type"


# -- input and output --------------------------------------------------------------------


def test_the_token_may_come_from_stdin_with_its_scheme(issuer: ForgedIssuer) -> None:
    token = issuer.mint(roles=["viewer"])
    result = run(forged_api(issuer), "-", stdin=f"Bearer {token}\n")
    assert result.exit_code == 0, result.output
    assert "Verdict: accepted" in result.output


def test_an_empty_token_is_one_line(issuer: ForgedIssuer) -> None:
    result = run(forged_api(issuer), "-", stdin="  \n")
    assert result.exit_code == 1
    assert "no token given" in result.output
    assert "Traceback" not in result.output


def test_nothing_secret_is_printed(issuer: ForgedIssuer) -> None:
    token = issuer.mint(roles=["admin"])
    signature = token.rsplit(".", 1)[1]
    app = forged_api(issuer)
    for args in ((token,), (token, "--json")):
        output = run(app, *args).output
        assert token not in output
        assert signature[:16] not in output
        for member in ('"n"', '"d"', '"x"', "BEGIN"):
            assert member not in output


def test_terminal_escapes_in_claims_are_neutralised(issuer: ForgedIssuer) -> None:
    token = issuer.mint(roles=["admin\x1b[2J"], sub="auth0|\x1b]0;owned\x07x")
    output = run(forged_api(issuer), token).output
    assert "\x1b" not in output
    assert "\x07" not in output
    assert "\\x1b" in output


def test_explain_needs_claimguard_on_the_app() -> None:
    result = Flask(__name__).test_cli_runner().invoke(cli, ["explain", "a.b.c"])
    assert result.exit_code == 1
    assert "claimguard is not set up on this app" in result.output


# -- explain and validate agree ----------------------------------------------------------


def verdict(validator: TokenValidator, token: str) -> str | None:
    try:
        validator.validate(token)
    except ClaimGuardError as error:
        return error.reason
    return None


def test_explain_and_validate_always_agree(
    issuer: ForgedIssuer, jwks_server: LoopbackServer
) -> None:
    validator = issuer.validator(token_cache_size=0)
    other = ForgedIssuer(audience=AUDIENCE).start()
    try:
        tokens = [
            issuer.mint(roles=["admin"]),
            issuer.mint(expires_in=-10),
            issuer.mint(aud=["https://a.example", AUDIENCE]),
            issuer.mint(aud=["https://a.example"], expires_in=-10),
            issuer.mint(iss="https://elsewhere.example/", aud="x"),
            issuer.mint(headers={"alg": "HS256"}),
            issuer.mint(headers={"kid": None}),
            issuer.mint(headers={"kid": 7}),
            issuer.mint(headers={"crit": ["exp"]}, expires_in=-10),
            issuer.mint(headers={"typ": "id_token+jwt"}, aud="x"),
            issuer.mint(sub="", iat=None),
            issuer.mint(iat="yesterday"),
            issuer.mint(exp=None, nbf=4_000_000_000),
            issuer.mint(cnf={"jkt": "x"}, expires_in=-10),
            issuer.mint(key=other.current_key),
            issuer.mint(key=other.current_key, headers={"kid": issuer.kid}),
            "",
            "x" * 9000,
            "a.b",
            "eyJhbGciOiJkaXIifQ..a.b.c",
            "not-a-jwt",
        ]
        explained = [explain(validator, token).reason for token in tokens]
        validated = [verdict(validator, token) for token in tokens]
        assert explained == validated
        assert len(set(validated)) >= 9  # the corpus covers many different refusals
    finally:
        other.close()
