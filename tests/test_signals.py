"""claimguard.signals: one signal per protected request, with the token, the reason
code, the route's requirement and whether it is optional; nothing sent without a
receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint
from flask import Flask

import claimguard.signals
from claimguard import ClaimGuard
from claimguard import requires_auth
from claimguard import requires_role
from claimguard import requires_scope
from claimguard.requirements import Requirement
from claimguard.signals import request_authorized
from claimguard.signals import request_refused
from claimguard.testing import ForgedIssuer
from protected_app import ROLES
from protected_app import bearer
from protected_app import make_app

Sent = list[tuple[str, Any, dict[str, Any]]]


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


@pytest.fixture(scope="module")
def app(issuer: ForgedIssuer) -> Flask:
    app = make_app(issuer)
    staff = Blueprint("staff", __name__, url_prefix="/staff-area")
    guard: ClaimGuard = app.extensions["claimguard"].guard
    guard.protect(staff)

    @staff.get("/open")
    def staff_open() -> str:
        return "ok"

    @staff.get("/scoped")
    @requires_scope("read:staff")
    def staff_scoped() -> str:
        return "ok"

    @staff.get("/admin")
    @requires_role("admin")
    def staff_admin() -> str:
        return "ok"

    @app.get("/decorated")
    @requires_auth
    def decorated() -> str:
        return "ok"

    app.register_blueprint(staff)

    lobby = Blueprint("lobby", __name__, url_prefix="/lobby")
    guard.protect(lobby, optional=True)

    @lobby.get("/")
    @requires_auth(optional=True)
    def lobby_index() -> str:
        return "ok"

    app.register_blueprint(lobby)
    return app


@pytest.fixture
def sent(app: Flask) -> Iterator[Sent]:
    """Every signal ``app`` sends while the test runs."""
    received: Sent = []

    def authorized(sender: Any, **kwargs: Any) -> None:
        received.append(("authorized", sender, kwargs))

    def refused(sender: Any, **kwargs: Any) -> None:
        received.append(("refused", sender, kwargs))

    request_authorized.connect(authorized, app)
    request_refused.connect(refused, app)
    try:
        yield received
    finally:
        request_authorized.disconnect(authorized, app)
        request_refused.disconnect(refused, app)


def test_the_module_is_importable_and_names_both_signals() -> None:
    assert claimguard.signals.request_authorized is request_authorized
    assert claimguard.signals.request_refused is request_refused
    assert request_authorized is not request_refused


def test_nothing_is_sent_without_a_receiver(
    app: Flask, issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not request_authorized.receivers
    assert not request_refused.receivers

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a signal was sent with no receiver connected")

    # On the two signals only: Flask's own signals go through Signal.send too.
    monkeypatch.setattr(request_authorized, "send", fail)
    monkeypatch.setattr(request_refused, "send", fail)
    client = app.test_client()
    token = issuer.mint(roles=["admin"])
    assert client.get("/admin", headers=bearer(token)).status_code == 200
    assert client.get("/admin").status_code == 401
    assert client.get("/admin", headers=bearer("not-a-token")).status_code == 401
    assert client.get("/admin", headers=bearer(issuer.mint(roles=["viewer"]))).status_code == 403
    assert client.get("/optional").status_code == 200
    assert client.get("/staff-area/admin", headers=bearer(token)).status_code == 200


def test_success(app: Flask, issuer: ForgedIssuer, sent: Sent) -> None:
    token = issuer.mint(roles=["admin"])
    assert app.test_client().get("/admin", headers=bearer(token)).status_code == 200
    assert len(sent) == 1
    kind, sender, kwargs = sent[0]
    assert kind == "authorized"
    assert sender is app
    assert set(kwargs) == {"token", "reason", "requirements", "optional"}
    assert kwargs["token"].subject == issuer.claims()["sub"]
    assert kwargs["reason"] is None
    assert kwargs["requirements"] == (Requirement("roles", ("admin",), "all"),)
    assert kwargs["optional"] is False


def test_missing_token(app: Flask, sent: Sent) -> None:
    assert app.test_client().get("/auth").status_code == 401
    assert [(kind, kwargs) for kind, _, kwargs in sent] == [
        (
            "refused",
            {
                "token": None,
                "reason": "request.no_credentials",
                "requirements": (),
                "optional": False,
            },
        )
    ]


def test_bad_token(app: Flask, sent: Sent) -> None:
    assert app.test_client().get("/auth", headers=bearer("not-a-token")).status_code == 401
    assert len(sent) == 1
    kind, _, kwargs = sent[0]
    assert (kind, kwargs["token"], kwargs["reason"]) == ("refused", None, "token.malformed")


def test_wrong_role(app: Flask, issuer: ForgedIssuer, sent: Sent) -> None:
    token = issuer.mint(roles=["viewer"])
    response = app.test_client().get("/admin-and-editor", headers=bearer(token))
    assert response.status_code == 403
    assert len(sent) == 1
    kind, sender, kwargs = sent[0]
    assert (kind, sender, kwargs["reason"]) == ("refused", app, "roles.missing")
    assert kwargs["requirements"] == (Requirement("roles", ("admin", "editor"), "all"),)
    # The token verified; only the requirement refused it.
    assert kwargs["token"] is not None
    assert kwargs["token"].roles == frozenset({"viewer"})


def test_optional_without_a_token_is_authorized(app: Flask, sent: Sent) -> None:
    assert app.test_client().get("/optional").status_code == 200
    assert [(kind, kwargs) for kind, _, kwargs in sent] == [
        ("authorized", {"token": None, "reason": None, "requirements": (), "optional": True})
    ]


def test_optional_with_a_bad_token_is_refused(app: Flask, sent: Sent) -> None:
    assert app.test_client().get("/optional", headers=bearer("not-a-token")).status_code == 401
    assert [(kind, kwargs["reason"], kwargs["optional"]) for kind, _, kwargs in sent] == [
        ("refused", "token.malformed", True)
    ]


def test_blueprint_and_decorated_view_send_one_signal(
    app: Flask, issuer: ForgedIssuer, sent: Sent
) -> None:
    """The blueprint's guard verifies the token; the view's decorator reuses it."""
    token = issuer.mint(roles=["admin"])
    assert app.test_client().get("/staff-area/admin", headers=bearer(token)).status_code == 200
    assert [(kind, kwargs["requirements"]) for kind, _, kwargs in sent] == [("authorized", ())]


def test_optional_blueprint_and_optional_view_send_one_signal_without_a_token(
    app: Flask, sent: Sent
) -> None:
    assert app.test_client().get("/lobby/").status_code == 200
    assert [(kind, kwargs["token"], kwargs["optional"]) for kind, _, kwargs in sent] == [
        ("authorized", None, True)
    ]


def test_optional_blueprint_and_optional_view_send_one_signal_with_a_token(
    app: Flask, issuer: ForgedIssuer, sent: Sent
) -> None:
    response = app.test_client().get("/lobby/", headers=bearer(issuer.mint()))
    assert response.status_code == 200
    assert [(kind, kwargs["token"] is not None) for kind, _, kwargs in sent] == [
        ("authorized", True)
    ]


def test_blueprint_alone_sends_one_signal(app: Flask, issuer: ForgedIssuer, sent: Sent) -> None:
    token = issuer.mint()
    assert app.test_client().get("/staff-area/open", headers=bearer(token)).status_code == 200
    assert [kind for kind, _, _ in sent] == ["authorized"]


def test_blueprint_passes_but_the_view_refuses(
    app: Flask, issuer: ForgedIssuer, sent: Sent
) -> None:
    """The reused token still gets a refused signal when the view's requirement fails."""
    token = issuer.mint(scope="read:other")
    response = app.test_client().get("/staff-area/scoped", headers=bearer(token))
    assert response.status_code == 403
    assert [(kind, kwargs["reason"]) for kind, _, kwargs in sent] == [
        ("authorized", None),
        ("refused", "scopes.missing"),
    ]
    assert sent[1][2]["token"] is sent[0][2]["token"]


def test_a_blueprint_guard_refusal_sends_one_signal(app: Flask, sent: Sent) -> None:
    assert app.test_client().get("/staff-area/admin").status_code == 401
    assert [(kind, kwargs["reason"]) for kind, _, kwargs in sent] == [
        ("refused", "request.no_credentials")
    ]


def test_every_request_sends_its_own_signal(app: Flask, issuer: ForgedIssuer, sent: Sent) -> None:
    client = app.test_client()
    token = issuer.mint()
    for _ in range(3):
        assert client.get("/decorated", headers=bearer(token)).status_code == 200
    assert [kind for kind, _, _ in sent] == ["authorized"] * 3


def test_a_receiver_for_another_app_hears_nothing(app: Flask, issuer: ForgedIssuer) -> None:
    other = Flask("other")
    received: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(sender)

    request_authorized.connect(receiver, other)
    try:
        token = issuer.mint()
        assert app.test_client().get("/auth", headers=bearer(token)).status_code == 200
    finally:
        request_authorized.disconnect(receiver, other)
    assert received == []


def test_keys_unavailable_is_refused_with_its_reason() -> None:
    """A 503 (the issuer's keys cannot be fetched) is a refusal too."""
    with ForgedIssuer() as forged:
        app = make_app(forged, CLAIMGUARD_HTTP_TIMEOUT=1)
        token = forged.mint()
        received: list[dict[str, Any]] = []

        def refused(sender: Any, **kwargs: Any) -> None:
            received.append(kwargs)

        request_refused.connect(refused, app)
        try:
            with forged.outage():
                response = app.test_client().get("/auth", headers=bearer(token))
        finally:
            request_refused.disconnect(refused, app)
    assert response.status_code == 503
    assert [(kwargs["token"], kwargs["reason"]) for kwargs in received] == [
        (None, "keys.unavailable")
    ]
