"""DPoP (RFC 9449) in the Flask layer: the modes and a route's own mode, no downgrade
between the schemes, the answers (challenges, nonces, malformed requests, an
unreachable replay store) and ``current_token``, through Flask's test client.

Each refusal is checked by its status, its challenge and its reason code, read from
``claimguard.signals.request_refused``. The proof checks one by one, the URL a proof
must name, the settings and the shared Redis store are in ``test_proofs.py`` and
``test_setup.py`` beside it; all three use the app and helpers of ``app.py``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Blueprint
from flask import Response
from flask import jsonify
from werkzeug.test import TestResponse

import claimguard.cli
from claimguard import ClaimGuard
from claimguard import ClaimGuardError
from claimguard import requires_any_permission
from claimguard import requires_any_role
from claimguard import requires_any_scope
from claimguard import requires_auth
from claimguard import requires_permission
from claimguard import requires_role
from claimguard import requires_scope
from claimguard.dpop_nonce import DPoPNonces
from claimguard.reasons import sentence
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof
from protected_app import bearer

#: The origin Flask's test client requests by default.
from .app import BARE_BEARER
from .app import BARE_DPOP
from .app import ORIGIN
from .app import SECRET
from .app import assert_refused
from .app import build_app
from .app import challenge
from .app import dpop
from .app import me
from .app import send

# -- modes -------------------------------------------------------------------------------


def test_off_is_the_default_and_the_dpop_scheme_is_no_credentials(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode=None).test_client()
    token = issuer.mint(dpop_key=key)
    response = send(client, key, token)
    assert_refused(response, 401, "request.no_credentials", reasons, BARE_BEARER)


def test_off_refuses_a_bound_token_sent_as_bearer(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="off").test_client()
    response = client.get("/auth", headers=bearer(issuer.mint(dpop_key=key)))
    expected = challenge("Bearer", "invalid_token", "token.bound")
    assert_refused(response, 401, "token.bound", reasons, expected)
    assert client.get("/auth", headers=bearer(issuer.mint())).status_code == 200


def test_allowed_takes_bearer_and_dpop(issuer: ForgedIssuer, key: DPoPKey) -> None:
    client = build_app(issuer, mode="allowed").test_client()
    assert client.get("/auth", headers=bearer(issuer.mint())).get_json()["bound"] is False
    assert send(client, key, issuer.mint(dpop_key=key)).get_json()["bound"] is True


def test_required_refuses_a_bearer_token(issuer: ForgedIssuer, reasons: list[str]) -> None:
    client = build_app(issuer, mode="required").test_client()
    response = client.get("/auth", headers=bearer(issuer.mint()))
    expected = challenge("DPoP", "invalid_token", "token.dpop_required")
    assert_refused(response, 401, "token.dpop_required", reasons, expected)


def test_required_answers_no_credentials_with_a_bare_dpop_challenge(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="required").test_client()
    assert_refused(client.get("/auth"), 401, "request.no_credentials", reasons, BARE_DPOP)
    assert send(client, key, issuer.mint(dpop_key=key)).status_code == 200


def test_a_route_requires_dpop_on_an_off_app(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="off").test_client()
    response = client.get("/required", headers=bearer(issuer.mint()))
    assert_refused(response, 401, "token.dpop_required", reasons)
    assert send(client, key, issuer.mint(dpop_key=key), "/required").status_code == 200
    assert send(client, key, issuer.mint(dpop_key=key), "/allowed").status_code == 200


def test_a_route_turns_dpop_off_on_a_required_app(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="required").test_client()
    assert client.get("/off", headers=bearer(issuer.mint())).status_code == 200
    response = send(client, key, issuer.mint(dpop_key=key), "/off")
    assert_refused(response, 401, "request.no_credentials", reasons, BARE_BEARER)


DECORATORS: dict[str, Callable[[str], Callable[[Any], Any]]] = {
    "requires_auth": lambda mode: requires_auth(dpop=mode),
    "requires_role": lambda mode: requires_role("admin", dpop=mode),
    "requires_any_role": lambda mode: requires_any_role("admin", dpop=mode),
    "requires_scope": lambda mode: requires_scope("read", dpop=mode),
    "requires_any_scope": lambda mode: requires_any_scope("read", dpop=mode),
    "requires_permission": lambda mode: requires_permission("read", dpop=mode),
    "requires_any_permission": lambda mode: requires_any_permission("read", dpop=mode),
}


@pytest.mark.parametrize("name", DECORATORS)
def test_every_decorator_takes_a_mode(issuer: ForgedIssuer, key: DPoPKey, name: str) -> None:
    app = build_app(issuer, mode="off")
    app.add_url_rule("/strict", "strict", DECORATORS[name]("required")(me))
    app.add_url_rule("/loose", "loose", DECORATORS[name]("off")(me))
    client = app.test_client()
    grants = {"roles": ["admin"], "scope": "read", "permissions": ["read"]}
    assert client.get("/strict", headers=bearer(issuer.mint(**grants))).status_code == 401
    assert send(client, key, issuer.mint(dpop_key=key, **grants), "/strict").status_code == 200
    assert client.get("/loose", headers=bearer(issuer.mint(**grants))).status_code == 200
    with pytest.raises(TypeError, match="dpop="):
        DECORATORS[name]("on")


def test_an_async_view_takes_a_mode(issuer: ForgedIssuer, key: DPoPKey) -> None:
    app = build_app(issuer, mode="off")

    async def view() -> dict[str, Any]:
        return me()

    app.add_url_rule("/async", "async", requires_auth(dpop="required")(view))
    client = app.test_client()
    assert client.get("/async", headers=bearer(issuer.mint())).status_code == 401
    assert send(client, key, issuer.mint(dpop_key=key), "/async").get_json()["bound"] is True


def test_the_scheme_name_is_case_insensitive(issuer: ForgedIssuer, key: DPoPKey) -> None:
    client = build_app(issuer, mode="required").test_client()
    token = issuer.mint(dpop_key=key)
    proof = make_proof(key, "GET", ORIGIN + "/auth", access_token=token)
    response = client.get("/auth", headers={"Authorization": f"dpop {token}", "DPoP": proof})
    assert response.status_code == 200


@pytest.mark.parametrize("bad", ["on", "Required", "", True, 1])
def test_a_bad_mode_is_a_type_error_at_decoration_time(issuer: ForgedIssuer, bad: Any) -> None:
    guard = ClaimGuard()
    with pytest.raises(TypeError):
        requires_auth(dpop=bad)
    with pytest.raises(TypeError):
        guard.protect(Blueprint("bad", __name__), dpop=bad)
    app = build_app(issuer)
    with app.test_request_context("/"), pytest.raises(TypeError):
        app.extensions["claimguard"].guard.verify_request(dpop=bad)


@pytest.mark.parametrize("app_mode", ["off", "allowed", "required"])
def test_a_protected_blueprint_takes_a_mode(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], app_mode: str
) -> None:
    app = build_app(issuer, mode=app_mode)
    guard: ClaimGuard = app.extensions["claimguard"].guard
    strict, loose = Blueprint("strict", __name__), Blueprint("loose", __name__)
    guard.protect(strict, dpop="required")
    guard.protect(loose, dpop="off")
    strict.add_url_rule("/strict", "strict", me)
    loose.add_url_rule("/loose", "loose", me)
    app.register_blueprint(strict)
    app.register_blueprint(loose)
    client = app.test_client()
    response = client.get("/strict", headers=bearer(issuer.mint()))
    assert_refused(response, 401, "token.dpop_required", reasons)
    assert send(client, key, issuer.mint(dpop_key=key), "/strict").status_code == 200
    assert client.get("/loose", headers=bearer(issuer.mint())).status_code == 200
    response = send(client, key, issuer.mint(dpop_key=key), "/loose")
    assert_refused(response, 401, "request.no_credentials", reasons, BARE_BEARER)


def test_verify_request_takes_a_mode(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    app = build_app(issuer, mode="required")
    guard: ClaimGuard = app.extensions["claimguard"].guard

    @app.get("/plain-strict")
    def plain_strict() -> dict[str, Any]:
        guard.verify_request(dpop="required")
        return me()

    @app.get("/plain-loose")
    def plain_loose() -> dict[str, Any]:
        guard.verify_request(dpop="off")
        return me()

    client = app.test_client()
    response = client.get("/plain-strict", headers=bearer(issuer.mint()))
    assert_refused(response, 401, "token.dpop_required", reasons)
    assert send(client, key, issuer.mint(dpop_key=key), "/plain-strict").status_code == 200
    assert client.get("/plain-loose", headers=bearer(issuer.mint())).status_code == 200


@pytest.mark.parametrize(("app_mode", "blueprint_mode"), [("allowed", None), ("off", "allowed")])
def test_an_outer_check_cannot_let_a_bearer_token_into_a_dpop_route(
    issuer: ForgedIssuer,
    key: DPoPKey,
    reasons: list[str],
    app_mode: str,
    blueprint_mode: str | None,
) -> None:
    """A blueprint's check accepts a bearer token first; the view inside it requires
    DPoP, and must not take the token the blueprint stored as proven."""
    app = build_app(issuer, mode=app_mode)
    guard: ClaimGuard = app.extensions["claimguard"].guard
    api = Blueprint("api", __name__, url_prefix="/api")
    guard.protect(api, dpop=blueprint_mode)
    api.add_url_rule("/admin", "admin", requires_role("admin", dpop="required")(me))
    api.add_url_rule("/open", "open", me)
    app.register_blueprint(api)
    client = app.test_client()
    admin = issuer.mint(roles=["admin"])
    assert client.get("/api/open", headers=bearer(admin)).status_code == 200
    response = client.get("/api/admin", headers=bearer(admin))
    expected = challenge("DPoP", "invalid_token", "token.dpop_required")
    assert_refused(response, 401, "token.dpop_required", reasons, expected)
    bound = issuer.mint(dpop_key=key, roles=["admin"])
    assert send(client, key, bound, "/api/admin").get_json()["bound"] is True


def test_routes_command_shows_a_routes_mode(issuer: ForgedIssuer) -> None:
    app = build_app(issuer, mode="off")
    result = app.test_cli_runner().invoke(claimguard.cli.cli, ["routes"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("/")}
    assert lines["/required"].endswith("any valid token; DPoP required")
    assert lines["/auth"].endswith("any valid token")


# -- no downgrade, in any mode -----------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "allowed", "required"])
def test_a_bound_token_is_never_a_bearer_token(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], mode: str
) -> None:
    client = build_app(issuer, mode=mode).test_client()
    response = client.get("/allowed", headers=bearer(issuer.mint(dpop_key=key)))
    assert_refused(response, 401, "token.bound", reasons)


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_an_unbound_token_with_a_proof_is_refused(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], mode: str
) -> None:
    client = build_app(issuer, mode=mode).test_client()
    response = send(client, key, issuer.mint())
    assert_refused(response, 401, "token.unbound", reasons)
    assert response.headers.getlist("WWW-Authenticate")[0] == challenge(
        "DPoP", "invalid_token", "token.unbound"
    )


def test_cnf_without_jkt_is_not_dpop_bound(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(cnf={"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
    assert_refused(send(client, key, token), 401, "token.unbound", reasons)
    assert_refused(client.get("/auth", headers=bearer(token)), 401, "token.bound", reasons)


def test_other_cnf_members_beside_jkt_are_ignored(issuer: ForgedIssuer, key: DPoPKey) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(cnf={"jkt": key.thumbprint, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9"})
    assert send(client, key, token).get_json()["jkt"] == key.thumbprint


def test_the_token_cache_does_not_turn_a_bound_token_into_a_bearer_one(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    assert send(client, key, token).status_code == 200
    assert_refused(client.get("/auth", headers=bearer(token)), 401, "token.bound", reasons)


def test_the_token_cache_does_not_turn_a_bearer_token_into_a_bound_one(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint()
    assert client.get("/auth", headers=bearer(token)).status_code == 200
    assert_refused(send(client, key, token), 401, "token.unbound", reasons)


# -- the answers -------------------------------------------------------------------------


def test_a_refused_proof_is_401_invalid_dpop_proof_not_400(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="required").test_client()
    response = send(client, key, issuer.mint(dpop_key=key), method="GET", url=ORIGIN + "/else")
    expected = challenge("DPoP", "invalid_dpop_proof", "dpop.url")
    assert_refused(response, 401, "dpop.url", reasons, expected)
    assert response.get_json()["error"] == "invalid_dpop_proof"


def test_allowed_names_both_schemes_in_a_401(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="allowed").test_client()
    proof_refused = send(client, key, issuer.mint(dpop_key=key), url=ORIGIN + "/else")
    assert_refused(
        proof_refused,
        401,
        "dpop.url",
        reasons,
        challenge("DPoP", "invalid_dpop_proof", "dpop.url"),
        BARE_BEARER,
    )
    bearer_refused = client.get("/auth", headers=bearer(issuer.mint(expires_in=-3600)))
    assert_refused(
        bearer_refused,
        401,
        "token.expired",
        reasons,
        challenge("Bearer", "invalid_token", "token.expired"),
        BARE_DPOP,
    )
    assert_refused(client.get("/auth"), 401, "request.no_credentials", reasons)
    assert client.get("/auth").headers.getlist("WWW-Authenticate") == [BARE_BEARER, BARE_DPOP]


def test_missing_roles_stay_403_with_the_scheme_used(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer, mode="allowed").test_client()
    response = send(client, key, issuer.mint(dpop_key=key, roles=["viewer"]), "/admin")
    assert_refused(response, 403, "roles.missing", reasons)
    assert response.get_json()["error"] == "insufficient_scope"
    [value] = response.headers.getlist("WWW-Authenticate")
    assert value.startswith('DPoP realm="api", error="insufficient_scope"')
    response = client.get("/admin", headers=bearer(issuer.mint(roles=["viewer"])))
    [value] = response.headers.getlist("WWW-Authenticate")
    assert response.status_code == 403
    assert value.startswith('Bearer realm="api", error="insufficient_scope"')
    assert (
        send(client, key, issuer.mint(dpop_key=key, roles=["admin"]), "/admin").status_code == 200
    )


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda token, proof: {"Authorization": f"DPoP {token}"}, "dpop.missing"),
        (lambda token, proof: {**dpop(token, proof), "DPoP": f"{proof}, {proof}"}, "dpop.several"),
        (lambda token, proof: {**dpop(token, proof), "DPoP": "not.a-jwt"}, "dpop.malformed"),
        (lambda token, proof: {**bearer(token), "DPoP": proof}, "dpop.with_bearer"),
    ],
    ids=["no-proof", "two-proofs", "garbage-proof", "proof-with-bearer"],
)
def test_malformed_requests_are_400_invalid_request(
    issuer: ForgedIssuer,
    key: DPoPKey,
    reasons: list[str],
    build: Callable[[str, str], dict[str, str]],
    reason: str,
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key) if reason != "dpop.with_bearer" else issuer.mint()
    proof = make_proof(key, "GET", ORIGIN + "/auth", access_token=token)
    response = client.get("/auth", headers=build(token, proof))
    assert_refused(response, 400, reason, reasons)
    assert response.get_json()["error"] == "invalid_request"
    [value] = response.headers.getlist("WWW-Authenticate")
    assert 'error="invalid_request"' in value


def test_two_dpop_header_fields_are_refused(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    """Two header fields, as a server hands them over (folded into one environ value),
    even when both are the same right proof."""
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    proof = make_proof(key, "GET", ORIGIN + "/auth", access_token=token)
    environ = {"HTTP_AUTHORIZATION": f"DPoP {token}", "HTTP_DPOP": f"{proof},{proof}"}
    response = client.get("/auth", environ_overrides=environ)
    assert_refused(response, 400, "dpop.several", reasons)
    # The same proof alone still passes: the refusal used up nothing.
    assert client.get("/auth", headers=dpop(token, proof)).status_code == 200


def test_a_malformed_request_is_answered_before_the_token_is_checked(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    """Two proofs, or none, are a malformed request (400) even with an expired token:
    the request's shape is checked first, before any signature work."""
    client = build_app(issuer).test_client()
    expired = issuer.mint(dpop_key=key, expires_in=-600)
    proof = make_proof(key, "GET", ORIGIN + "/auth", access_token=expired)
    environ = {"HTTP_AUTHORIZATION": f"DPoP {expired}", "HTTP_DPOP": f"{proof},{proof}"}
    assert_refused(client.get("/auth", environ_overrides=environ), 400, "dpop.several", reasons)
    response = client.get("/auth", headers={"Authorization": f"DPoP {expired}"})
    assert_refused(response, 400, "dpop.missing", reasons)


def test_nonces_are_demanded_and_a_retry_with_one_passes(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    app = build_app(issuer, CLAIMGUARD_DPOP_NONCE_SECRET=SECRET, CLAIMGUARD_DPOP_REQUIRE_NONCE=True)
    client = app.test_client()
    token = issuer.mint(dpop_key=key)
    first = send(client, key, token)
    assert_refused(first, 401, "dpop.nonce_required", reasons)
    assert first.get_json()["error"] == "use_dpop_nonce"
    assert first.headers.getlist("WWW-Authenticate")[0] == challenge(
        "DPoP", "use_dpop_nonce", "dpop.nonce_required"
    )
    nonce = first.headers["DPoP-Nonce"]
    retry = send(client, key, token, nonce=nonce)
    assert retry.status_code == 200, retry.get_json()
    assert retry.headers["DPoP-Nonce"]


def test_a_stale_nonce_is_answered_with_a_fresh_one(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    app = build_app(issuer, CLAIMGUARD_DPOP_NONCE_SECRET=SECRET, CLAIMGUARD_DPOP_REQUIRE_NONCE=True)
    client = app.test_client()
    token = issuer.mint(dpop_key=key)
    stale = DPoPNonces(SECRET.encode()).issue(time.time() - 600)
    response = send(client, key, token, nonce=stale)
    assert_refused(response, 401, "dpop.nonce", reasons)
    fresh = response.headers["DPoP-Nonce"]
    assert fresh != stale
    assert send(client, key, token, nonce=fresh).status_code == 200


@pytest.mark.parametrize("renderer", ["guard.error_handler", "app.errorhandler"])
def test_an_apps_own_renderer_still_sends_the_nonce_to_use(
    issuer: ForgedIssuer, key: DPoPKey, renderer: str
) -> None:
    app = build_app(issuer, CLAIMGUARD_DPOP_NONCE_SECRET=SECRET, CLAIMGUARD_DPOP_REQUIRE_NONCE=True)

    def render(error: ClaimGuardError) -> Response:
        response = jsonify(error.body())
        response.status_code = error.status_code
        return response

    if renderer == "guard.error_handler":
        app.extensions["claimguard"].guard.error_handler(render)
    else:
        app.register_error_handler(ClaimGuardError, render)
    client = app.test_client()
    token = issuer.mint(dpop_key=key)
    first = send(client, key, token)
    assert first.get_json()["error"] == "use_dpop_nonce"
    assert send(client, key, token, nonce=first.headers["DPoP-Nonce"]).status_code == 200


def test_with_a_secret_every_dpop_answer_carries_a_nonce(
    issuer: ForgedIssuer, key: DPoPKey
) -> None:
    client = build_app(issuer, CLAIMGUARD_DPOP_NONCE_SECRET=SECRET).test_client()
    token = issuer.mint(dpop_key=key)
    passed = send(client, key, token)  # no nonce required: the iat window suffices
    assert passed.status_code == 200
    nonce = passed.headers["DPoP-Nonce"]
    assert DPoPNonces(SECRET.encode()).check(nonce, time.time())
    denied = send(client, key, issuer.mint(dpop_key=key, roles=["viewer"]), "/admin")
    assert denied.status_code == 403
    assert denied.headers["DPoP-Nonce"]
    assert "DPoP-Nonce" not in client.get("/auth", headers=bearer(issuer.mint())).headers
    assert "DPoP-Nonce" not in build_app(issuer).test_client().get("/auth").headers


class FailingStore:
    """A replay store that cannot be reached."""

    def __init__(self) -> None:
        self.calls = 0

    def claim(self, key: str, ttl: int) -> bool:
        self.calls += 1
        raise ConnectionError("replay store down")


def test_an_unreachable_replay_store_is_503_never_a_pass(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    store = FailingStore()
    client = build_app(issuer, CLAIMGUARD_DPOP_REPLAY_STORE=store).test_client()
    response = send(client, key, issuer.mint(dpop_key=key))
    assert_refused(response, 503, "dpop.store_unavailable", reasons)
    assert store.calls == 1
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert "down" not in response.get_data(as_text=True)


HOSTILE = 'evil"\\\r\nX-Injected: 1\u00e9\u2028'
# What a refusal's headers may contain: fixed sentences, in printable ASCII.
_HEADER_VALUE = re.compile(r"[ -~]*")


def _assert_nothing_echoed(response: TestResponse, reason: str) -> None:
    for name, value in response.headers.items():
        assert _HEADER_VALUE.fullmatch(value), (name, value)
        assert "evil" not in value, (name, value)
        assert "Injected" not in value, (name, value)
    assert "X-Injected" not in response.headers
    assert response.get_json()["error_description"] == sentence(reason)


@pytest.mark.parametrize(
    "proof",
    [
        {"url": f"http://localhost/{HOSTILE}"},
        {"jti": HOSTILE},
        {"method": HOSTILE},
        {"header_overrides": {"typ": HOSTILE}},
        {"header_overrides": {"alg": HOSTILE}},
        {"header_overrides": {"jwk": {"kty": HOSTILE}}},
    ],
    ids=["htu", "jti-replayed", "htm", "typ", "alg", "jwk"],
)
def test_no_attacker_bytes_reach_a_header(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], proof: dict[str, Any]
) -> None:
    client = build_app(issuer, CLAIMGUARD_DPOP_NONCE_SECRET=SECRET).test_client()
    token = issuer.mint(dpop_key=key)
    method = proof.pop("method", "GET")
    url = proof.pop("url", ORIGIN + "/auth")
    headers = dpop(token, make_proof(key, method, url, access_token=token, **proof))
    response = client.get("/auth", headers=headers)
    if response.status_code == 200:  # the hostile jti is a valid one: replay it
        response = client.get("/auth", headers=headers)
    assert response.status_code == 401
    assert reasons[-1].startswith("dpop.")
    _assert_nothing_echoed(response, reasons[-1])


def test_no_attacker_bytes_from_a_raw_header_or_host(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    client = build_app(issuer).test_client()
    token = issuer.mint(dpop_key=key)
    environ = {"HTTP_AUTHORIZATION": f"DPoP {token}", "HTTP_DPOP": HOSTILE}
    raw = client.get("/auth", environ_overrides=environ)
    assert raw.status_code == 400
    _assert_nothing_echoed(raw, "dpop.malformed")
    proof = make_proof(key, "GET", ORIGIN + "/auth", access_token=token)
    smuggled = client.get(
        "/auth", headers=dpop(token, proof), environ_overrides={"HTTP_HOST": HOSTILE}
    )
    assert_refused(smuggled, 401, "dpop.url", reasons)
    _assert_nothing_echoed(smuggled, "dpop.url")


# -- current_token -----------------------------------------------------------------------


def test_current_token_tells_a_dpop_request_from_a_bearer_one(
    issuer: ForgedIssuer, key: DPoPKey
) -> None:
    client = build_app(issuer).test_client()
    bound = send(client, key, issuer.mint(dpop_key=key)).get_json()
    assert bound == {"sub": bound["sub"], "bound": True, "jkt": key.thumbprint, "same": True}
    plain = client.get("/auth", headers=bearer(issuer.mint())).get_json()
    assert plain == {"sub": plain["sub"], "bound": False, "jkt": None, "same": True}
