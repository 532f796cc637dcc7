"""The Flask extension (claimguard.extension): set-up, the RFC 6750 answers, blueprints,
rendering, operators and the log lines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import jsonify

from claimguard import BearerError
from claimguard import ClaimGuard
from claimguard import ClaimGuardError
from claimguard import current_token
from claimguard import get_current_token
from claimguard import requires_auth
from claimguard import requires_role
from claimguard.testing import ForgedIssuer
from protected_app import ROLES
from protected_app import assert_no_store
from protected_app import bearer
from protected_app import make_app


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


# -- the answers, row by row -------------------------------------------------------------


def test_no_credentials_is_401_with_a_bare_challenge(issuer: ForgedIssuer) -> None:
    """RFC 6750 §3.1: no error code when the request has no authentication at all."""
    client = make_app(issuer).test_client()
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "DPoP abc"}):
        response = client.get("/auth", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert response.get_json()["error"] == "unauthorized"
        assert_no_store(response)


def test_query_token_alone_counts_as_no_credentials(issuer: ForgedIssuer) -> None:
    """Tokens are read from the header only; a query token is not credentials."""
    client = make_app(issuer).test_client()
    response = client.get("/auth", query_string={"access_token": issuer.mint()})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("value", "query"),
    [
        ("Bearer", None),
        ("Bearer a b", None),
        ("Bearer a\tb", None),
        ("Bearer tok!en", None),
        ("Bearer a, Bearer b", None),
        ("Bearer VALID", "x"),
    ],
    ids=["no-token", "extra-part", "tab", "bad-char", "comma-folded", "query-and-header"],
)
def test_malformed_request_is_400_invalid_request(
    issuer: ForgedIssuer, value: str, query: str | None
) -> None:
    client = make_app(issuer).test_client()
    value = value.replace("VALID", issuer.mint())
    response = client.get(
        "/auth",
        headers={"Authorization": value},
        query_string={"access_token": query} if query else None,
    )
    assert response.status_code == 400
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_request", error_description="')
    assert response.get_json()["error"] == "invalid_request"
    assert_no_store(response)


def test_two_authorization_headers_are_400(issuer: ForgedIssuer) -> None:
    """Several Authorization fields are several credentials, whichever comes first."""
    client = make_app(issuer).test_client()
    token = issuer.mint()
    response = client.get("/auth", headers=[("Authorization", f"Bearer {token}")] * 2)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda i: i.mint(expires_in=-60),
        lambda i: i.mint(aud="https://other.example"),
        lambda i: i.mint(iss="https://evil.example/"),
        lambda i: i.mint()[:-4] + "AAAA",
        lambda i: "not-a-jwt",
        lambda i: i.mint(nbf=4102444800),
        lambda i: i.mint(cnf={"jkt": "abc"}),
        lambda i: i.mint(headers={"alg": "RS512"}),
    ],
    ids=["expired", "audience", "issuer", "signature", "opaque", "nbf", "cnf", "alg"],
)
def test_invalid_token_is_401_invalid_token(
    issuer: ForgedIssuer, make_token: Callable[[ForgedIssuer], str]
) -> None:
    client = make_app(issuer).test_client()
    response = client.get("/auth", headers=bearer(make_token(issuer)))
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token", error_description="')
    body = response.get_json()
    assert body["error"] == "invalid_token"
    assert body["error_description"] in challenge
    assert_no_store(response)


def test_expired_token_says_so(issuer: ForgedIssuer) -> None:
    client = make_app(issuer).test_client()
    response = client.get("/auth", headers=bearer(issuer.mint(expires_in=-60)))
    assert response.get_json()["error_description"] == "The access token expired."


def test_missing_role_is_403_naming_the_requirement(issuer: ForgedIssuer) -> None:
    client = make_app(issuer).test_client()
    response = client.get("/admin", headers=bearer(issuer.mint(roles=["viewer"])))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required role."'
    )
    body = response.get_json()
    assert body["required_roles"] == ["admin"]
    assert body["match"] == "all"
    assert_no_store(response)


def test_missing_scope_is_403_with_scope_attribute(issuer: ForgedIssuer) -> None:
    """RFC 6750 §3: the scope attribute is sent for scope failures only."""
    client = make_app(issuer).test_client()
    response = client.get("/scope", headers=bearer(issuer.mint(scope="read:products")))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].endswith('scope="read:products write:products"')
    assert response.get_json()["required_scopes"] == ["read:products", "write:products"]


def test_missing_permission_is_403(issuer: ForgedIssuer) -> None:
    client = make_app(issuer).test_client()
    response = client.get("/perm", headers=bearer(issuer.mint(permissions=["read:products"])))
    assert response.status_code == 403
    assert response.get_json()["required_permissions"] == ["delete:products"]
    assert "scope=" not in response.headers["WWW-Authenticate"]


def test_keys_unavailable_is_503_with_retry_after() -> None:
    with ForgedIssuer() as forged:
        app = make_app(forged, CLAIMGUARD_HTTP_TIMEOUT=1)
        token = forged.mint()
        with forged.outage():
            response = app.test_client().get("/auth", headers=bearer(token))
    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert_no_store(response)


# -- the plain-call form and blueprints --------------------------------------------------


def test_blueprint_protection_with_verify_request(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @admin.before_request
    def check() -> None:
        guard.verify_request(roles=["admin"])

    @admin.get("/stats")
    def stats() -> dict[str, str]:
        return {"sub": current_token.subject}

    app.register_blueprint(admin)
    client = app.test_client()
    assert client.get("/admin/stats").status_code == 401
    assert (
        client.get("/admin/stats", headers=bearer(issuer.mint(roles=["viewer"]))).status_code == 403
    )
    ok = client.get("/admin/stats", headers=bearer(issuer.mint(roles=["admin"])))
    assert ok.status_code == 200


def test_guard_protect_blueprint(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)
    api = Blueprint("api", __name__)

    @api.get("/items")
    def items() -> dict[str, list[str]]:
        return {"scopes": sorted(current_token.scopes)}

    guard.protect(api, any_scopes=["read:items", "admin:items"])
    app.register_blueprint(api)
    client = app.test_client()
    assert client.get("/items").status_code == 401
    assert client.get("/items", headers=bearer(issuer.mint(scope="other"))).status_code == 403
    assert client.get("/items", headers=bearer(issuer.mint(scope="read:items"))).status_code == 200
    with pytest.raises(TypeError):
        guard.protect(api, rolez=["admin"])


def test_decorator_methods_on_the_extension(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)

    @app.get("/x")
    @guard.requires_any_role("admin")
    def x() -> str:
        return "ok"

    client = app.test_client()
    assert client.get("/x", headers=bearer(issuer.mint(roles=["admin"]))).status_code == 200
    assert client.get("/x", headers=bearer(issuer.mint(roles=["viewer"]))).status_code == 403


def test_protected_blueprint_answers_a_preflight_without_running_the_view(
    issuer: ForgedIssuer,
) -> None:
    """A view that handles OPTIONS itself must not run for an anonymous preflight."""
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)
    payroll = Blueprint("payroll", __name__)
    calls: list[str] = []

    @payroll.route("/secret", methods=["GET", "OPTIONS"])
    def secret() -> dict[str, str]:
        calls.append("ran")
        return {"secret": "payroll data"}

    guard.protect(payroll, roles=["admin"])
    app.register_blueprint(payroll)
    client = app.test_client()
    preflight = client.options(
        "/secret",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert b"payroll" not in preflight.get_data()
    assert calls == []
    assert client.options("/secret").status_code == 401
    assert calls == []


# -- app wiring --------------------------------------------------------------------------


def test_init_app_twice_is_an_error(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)
    with pytest.raises(RuntimeError, match="already"):
        guard.init_app(app)
    with pytest.raises(RuntimeError):
        ClaimGuard(app)


def test_init_app_factory_style_and_state_in_extensions(issuer: ForgedIssuer) -> None:
    guard = ClaimGuard()
    app = Flask(__name__)
    issuer.configure(app)
    guard.init_app(app)
    assert "claimguard" in app.extensions
    assert not hasattr(guard, "app")


def test_init_app_does_no_network_io() -> None:
    with ForgedIssuer() as forged:
        app = Flask(__name__)
        forged.configure(app)
        ClaimGuard(app)
        assert forged.jwks_requests == 0
        assert forged.discovery_requests == 0


def test_two_apps_with_different_issuers_in_one_process() -> None:
    with ForgedIssuer(roles_claim=ROLES) as first, ForgedIssuer(roles_claim=ROLES) as second:
        app_one, app_two = make_app(first), make_app(second)
        one, two = app_one.test_client(), app_two.test_client()
        token_one, token_two = first.mint(roles=["admin"]), second.mint(roles=["admin"])
        assert one.get("/admin", headers=bearer(token_one)).status_code == 200
        assert two.get("/admin", headers=bearer(token_two)).status_code == 200
        assert one.get("/admin", headers=bearer(token_two)).status_code == 401
        assert two.get("/admin", headers=bearer(token_one)).status_code == 401


def test_role_decorator_without_roles_claim_is_a_loud_deployment_error(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Never a silent 403 for everyone: a 500 and an ERROR log that says what to set."""
    app = Flask(__name__)
    issuer.configure(app)
    app.config["CLAIMGUARD_ROLES_CLAIM"] = None
    ClaimGuard(app)

    @app.get("/admin")
    @requires_role("admin")
    def admin() -> str:
        return "never"

    with caplog.at_level(logging.ERROR, logger="claimguard"):
        response = app.test_client().get("/admin", headers=bearer(issuer.mint(roles=["admin"])))
    assert response.status_code == 500
    assert response.get_json()["error"] == "server_error"
    assert "CLAIMGUARD_ROLES_CLAIM" not in response.get_data(as_text=True)
    assert any("CLAIMGUARD_ROLES_CLAIM" in record.getMessage() for record in caplog.records)


# -- taking over the rendering -----------------------------------------------------------


def test_app_errorhandler_registered_before_init_app_wins(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)

    @app.errorhandler(ClaimGuardError)
    def custom(error: ClaimGuardError) -> tuple[Response, int]:
        return jsonify(mine=error.status_code), 418

    ClaimGuard(app)
    app.add_url_rule("/x", "x", requires_auth(lambda: "ok"))
    response = app.test_client().get("/x")
    assert response.status_code == 418
    assert response.get_json() == {"mine": 401}


def test_app_errorhandler_for_a_subclass_wins(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    ClaimGuard(app)

    @app.errorhandler(BearerError)
    def custom(error: BearerError) -> tuple[str, int]:
        return f"custom {error.status_code}", error.status_code

    app.add_url_rule("/x", "x", requires_auth(lambda: "ok"))
    response = app.test_client().get("/x")
    assert response.get_data(as_text=True) == "custom 401"


def test_guard_error_handler_callback(issuer: ForgedIssuer) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)

    @guard.error_handler
    def render(error: ClaimGuardError) -> Response:
        response = jsonify(problem=error.error, status=error.status_code)
        response.status_code = error.status_code
        return response

    app.add_url_rule("/x", "x", requires_role("admin")(lambda: "ok"))
    response = app.test_client().get("/x", headers=bearer(issuer.mint(roles=["viewer"])))
    assert response.status_code == 403
    assert response.get_json() == {"problem": "insufficient_scope", "status": 403}


def test_custom_realm(issuer: ForgedIssuer) -> None:
    client = make_app(issuer, CLAIMGUARD_REALM="products").test_client()
    assert client.get("/auth").headers["WWW-Authenticate"] == 'Bearer realm="products"'


# -- operators ---------------------------------------------------------------------------


def test_key_set_status_and_refresh(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    guard = app.extensions["claimguard"].guard
    with app.app_context():
        before = guard.key_set_status()[issuer.issuer]
        assert not before.loaded
        assert guard.refresh_keys()
        after = guard.key_set_status()[issuer.issuer]
        assert after.loaded
        assert after.key_count >= 1
        assert after.last_error is None


def test_warm_up_fetches_keys_before_the_first_request() -> None:
    with ForgedIssuer() as forged:
        app = Flask(__name__)
        forged.configure(app)
        guard = ClaimGuard(app)
        assert guard.warm_up(app)
        assert forged.jwks_requests == 1
        app.add_url_rule("/x", "x", requires_auth(lambda: "ok"))
        assert app.test_client().get("/x", headers=bearer(forged.mint())).status_code == 200
        assert forged.jwks_requests == 1


def test_warm_up_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with ForgedIssuer() as forged:
        app = Flask(__name__)
        forged.configure(app)
        app.config["CLAIMGUARD_HTTP_TIMEOUT"] = 1
        guard = ClaimGuard(app)
        with forged.outage(), caplog.at_level(logging.WARNING, logger="claimguard"):
            assert not guard.warm_up(app)
        assert "warm-up" in _log_text(caplog)


# -- diagnostics (logs, never responses) -------------------------------------------------


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_log_says_why_a_token_was_refused(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    token = issuer.mint(aud="https://other.example")
    with caplog.at_level(logging.INFO, logger="claimguard"):
        response = client.get("/auth", headers=bearer(token))
    text = _log_text(caplog)
    assert "aud mismatch" in text
    assert "https://other.example" in text
    assert issuer.audience in text
    assert token not in text  # never the token itself
    assert "other.example" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("headers", "path", "line"),
    [
        ({}, "/auth", 'refused GET "/auth": 401 reason=request.no_credentials: '),
        (
            {"Authorization": "Bearer"},
            "/auth",
            'refused GET "/auth": 400 reason=request.empty_token: ',
        ),
        (None, "/admin", 'refused GET "/admin": 403 reason=roles.missing: '),
    ],
)
def test_log_line_names_the_reason_code(
    issuer: ForgedIssuer,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str] | None,
    path: str,
    line: str,
) -> None:
    """One line per refusal, with the stable code that tools and alerts can match on."""
    client = make_app(issuer).test_client()
    with caplog.at_level(logging.INFO, logger="claimguard"):
        client.get(path, headers=bearer(issuer.mint()) if headers is None else headers)
    assert any(record.getMessage().startswith(line) for record in caplog.records)


def test_log_names_the_opaque_token_mistake(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    with caplog.at_level(logging.INFO, logger="claimguard"):
        client.get("/auth", headers=bearer("opaque-token-without-dots"))
    assert "audience" in _log_text(caplog)


def test_log_hints_at_the_post_login_action_when_roles_are_missing(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    with caplog.at_level(logging.INFO, logger="claimguard"):
        client.get("/admin", headers=bearer(issuer.mint()))
    assert "Post-Login Action" in _log_text(caplog)


def test_log_names_roles_under_another_claim(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    token = issuer.sign(
        {"alg": "RS256", "kid": issuer.kid},
        {**issuer.claims(), "roles": ["admin"]},
    )
    with caplog.at_level(logging.INFO, logger="claimguard"):
        assert client.get("/admin", headers=bearer(token)).status_code == 403
    text = _log_text(caplog)
    assert "'roles'" in text or '"roles"' in text
    assert "CLAIMGUARD_ROLES_CLAIM" in text


def test_log_escapes_request_bytes(issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture) -> None:
    client = make_app(issuer).test_client()
    with caplog.at_level(logging.INFO, logger="claimguard"):
        client.get("/auth%0aFORGED", headers={})
    assert "\nFORGED" not in _log_text(caplog)


def test_log_names_an_id_token_sent_as_an_access_token(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    id_token = issuer.mint(aud="client-id-123", nonce="n-0S6_WzA2Mj")
    with caplog.at_level(logging.INFO, logger="claimguard"):
        response = client.get("/auth", headers=bearer(id_token))
    assert response.status_code == 401
    assert "looks like an ID token" in _log_text(caplog)
    assert "ID token" not in response.get_data(as_text=True)


def test_log_names_a_trailing_slash_issuer_mismatch(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app(issuer).test_client()
    token = issuer.mint(iss=issuer.issuer.rstrip("/"))
    with caplog.at_level(logging.INFO, logger="claimguard"):
        assert client.get("/auth", headers=bearer(token)).status_code == 401
    assert "only by a trailing slash" in _log_text(caplog)


def test_log_points_at_the_clock_for_tokens_from_the_future(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    client = make_app(issuer).test_client()
    token = issuer.mint(iat=int(time.time()) + 120)
    with caplog.at_level(logging.INFO, logger="claimguard"):
        assert client.get("/auth", headers=bearer(token)).status_code == 401
    assert "clock" in _log_text(caplog)


# -- set-ups that would drop a requirement are refused -----------------------------------


def _blueprint_app(issuer: ForgedIssuer) -> tuple[Flask, ClaimGuard, Blueprint]:
    app = Flask(__name__)
    issuer.configure(app)
    guard = ClaimGuard(app)
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @admin.get("/stats")
    def stats() -> dict[str, str]:
        return {"sub": current_token.subject}

    return app, guard, admin


@pytest.mark.parametrize(
    "requirement",
    [
        {"roles": ["admin"]},
        {"any_roles": ["admin"]},
        {"scopes": "read:stats"},
        {"any_scopes": ["read:stats"]},
        {"permissions": ["read:stats"]},
        {"any_permissions": ["read:stats"]},
    ],
)
def test_optional_with_a_requirement_is_refused_at_set_up(
    issuer: ForgedIssuer, requirement: dict[str, Any]
) -> None:
    """With optional=True a request without a token (or with Basic credentials) would
    take the "no credentials" branch and never meet the requirement. Refused when the
    blueprint is protected, and when verify_request is called."""
    app, guard, admin = _blueprint_app(issuer)
    with pytest.raises(TypeError, match="optional=True cannot be combined"):
        guard.protect(admin, optional=True, **requirement)
    assert not admin.before_request_funcs  # nothing half-registered
    with app.test_request_context("/admin/stats"), pytest.raises(TypeError, match="optional"):
        guard.verify_request(optional=True, **requirement)


@pytest.mark.parametrize("optional", ["false", "False", 0, 1, None, "", [False]])
def test_optional_must_be_a_real_bool(issuer: ForgedIssuer, optional: object) -> None:
    """optional="false" read from the environment is a true string: refused, never read
    as a truth value, in every form that takes it."""
    app, guard, admin = _blueprint_app(issuer)
    with pytest.raises(TypeError, match="optional must be True or False"):
        guard.protect(admin, optional=optional)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optional must be True or False"):
        requires_auth(optional=optional)  # type: ignore[arg-type]
    with app.test_request_context("/admin/stats"), pytest.raises(TypeError, match="optional"):
        guard.verify_request(optional=optional)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "requirement",
    [
        {"roles": []},
        {"any_roles": []},
        {"scopes": ()},
        {"any_scopes": []},
        {"permissions": []},
        {"any_permissions": set()},
        {"roles": [""]},
        {"any_roles": ["admin", "  "]},
        {"roles": ""},
        {"roles": [None]},
        {"roles": 7},
    ],
)
def test_empty_requirements_are_refused(issuer: ForgedIssuer, requirement: dict[str, Any]) -> None:
    """any_roles=[] once turned an admin-only blueprint into "any valid token". An empty
    list or an empty name is refused, like the decorators' @requires_role()."""
    app, guard, admin = _blueprint_app(issuer)
    with pytest.raises(TypeError):
        guard.protect(admin, **requirement)
    assert not admin.before_request_funcs
    with app.test_request_context("/admin/stats"), pytest.raises(TypeError):
        guard.verify_request(**requirement)


def test_a_protected_blueprint_with_a_requirement_refuses_no_token_and_basic(
    issuer: ForgedIssuer,
) -> None:
    """The control for the refusals above: what a correct set-up answers."""
    app, guard, admin = _blueprint_app(issuer)
    guard.protect(admin, roles=["admin"])
    app.register_blueprint(admin)
    client = app.test_client()
    assert client.get("/admin/stats").status_code == 401
    basic = client.get("/admin/stats", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    viewer = client.get("/admin/stats", headers=bearer(issuer.mint(roles=["viewer"])))
    assert viewer.status_code == 403
    ok = client.get("/admin/stats", headers=bearer(issuer.mint(roles=["admin"])))
    assert ok.status_code == 200


def test_optional_blueprint_without_requirements_still_works(issuer: ForgedIssuer) -> None:
    """optional=True alone stays allowed: no token → the view runs with no token."""
    app, guard, admin = _blueprint_app(issuer)

    @admin.get("/whoami")
    def whoami() -> dict[str, str | None]:
        token = get_current_token()
        return {"sub": None if token is None else token.subject}

    guard.protect(admin, optional=True)
    app.register_blueprint(admin)
    client = app.test_client()
    assert client.get("/admin/whoami").get_json() == {"sub": None}
    signed = client.get("/admin/whoami", headers=bearer(issuer.mint(sub="auth0|7")))
    assert signed.get_json() == {"sub": "auth0|7"}
    assert client.get("/admin/whoami", headers=bearer("garbage")).status_code == 401


# -- str(error) is safe to show ----------------------------------------------------------


def test_a_handler_that_renders_str_error_leaks_no_detail(issuer: ForgedIssuer) -> None:
    """Apps often answer str(error) from their own handler. It is the public sentence:
    neither the configured audience nor the subject or its roles reach the client."""
    app = make_app(issuer)

    @app.errorhandler(ClaimGuardError)
    def render(error: ClaimGuardError) -> tuple[dict[str, str], int]:
        return {"message": str(error)}, error.status_code

    client = app.test_client()
    wrong_audience = issuer.mint(aud="https://other-api.example")
    response = client.get("/admin", headers=bearer(wrong_audience))
    assert response.status_code == 401
    assert response.get_json() == {"message": "The access token is not meant for this API."}
    assert issuer.audience not in response.get_data(as_text=True)
    viewer = client.get("/admin", headers=bearer(issuer.mint(sub="auth0|secret", roles=["v"])))
    assert viewer.status_code == 403
    assert viewer.get_json() == {"message": "The access token lacks a required role."}
