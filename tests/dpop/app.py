"""The DPoP tests' shared app and helpers: an app in a given DPoP mode with a route of
each kind, the DPoP request headers, a request sender, and the refusal assertion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from claimguard import ClaimGuard
from claimguard import current_token
from claimguard import get_current_token
from claimguard import requires_auth
from claimguard import requires_role
from claimguard.reasons import sentence
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof

#: The origin Flask's test client requests by default.
ORIGIN = "http://localhost"
ALGS = 'algs="ES256 EdDSA"'
BARE_BEARER = 'Bearer realm="api"'
BARE_DPOP = f'DPoP realm="api", {ALGS}'
SECRET = "n" * 32


def challenge(scheme: str, error: str, reason: str) -> str:
    """The ``WWW-Authenticate`` value of a refusal with an error code."""
    value = f'{scheme} realm="api", error="{error}", error_description="{sentence(reason)}"'
    return f"{value}, {ALGS}" if scheme == "DPoP" else value


# -- the app and the requests ------------------------------------------------------------


def me(**_: Any) -> dict[str, Any]:
    """What a view sees of the request's token."""
    token = get_current_token()
    if token is None:
        return {"sub": None}
    return {
        "sub": current_token.subject,
        "bound": current_token.dpop_bound,
        "jkt": current_token.dpop_thumbprint,
        "same": token.dpop_thumbprint == current_token.dpop_thumbprint,
    }


def build_app(issuer: ForgedIssuer, mode: str | None = "allowed", **config: Any) -> Flask:
    """An app in DPoP ``mode`` (``None``: the default), with routes of each own mode."""
    app = Flask(__name__)
    issuer.configure(app)
    if mode is not None:
        app.config["CLAIMGUARD_DPOP_MODE"] = mode
    app.config.update(config)
    ClaimGuard(app)
    routes: dict[str, Callable[..., Any]] = {
        "/auth": requires_auth(me),
        "/admin": requires_role("admin")(me),
        "/required": requires_auth(dpop="required")(me),
        "/allowed": requires_auth(dpop="allowed")(me),
        "/off": requires_auth(dpop="off")(me),
        "/files/<path:name>": requires_auth(me),
    }
    for path, view in routes.items():
        app.add_url_rule(path, path, view)
    return app


def dpop(token: str, proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def send(
    client: Any,
    key: DPoPKey,
    token: str,
    path: str = "/auth",
    *,
    method: str = "GET",
    htm: str | None = None,
    url: str | None = None,
    headers: dict[str, str] | None = None,
    **proof: Any,
) -> TestResponse:
    """A DPoP request for ``path`` with a proof right in every way unless ``proof`` (the
    arguments of ``make_proof``), ``htm`` or ``url`` (its ``htu``) say otherwise."""
    htu = url if url is not None else ORIGIN + path.partition("?")[0]
    proof.setdefault("access_token", token)
    value = make_proof(key, htm or method, htu, **proof)
    response: TestResponse = client.open(
        path, method=method, headers={**dpop(token, value), **(headers or {})}
    )
    return response


def assert_refused(
    response: TestResponse, status: int, reason: str, reasons: list[str], *challenges: str
) -> None:
    """``response`` is refused with ``status`` for ``reason``, with exactly these
    ``WWW-Authenticate`` values (when given)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert reasons[-1:] == [reason], reasons
    assert response.get_json()["error_description"] == sentence(reason)
    if challenges:
        assert response.headers.getlist("WWW-Authenticate") == list(challenges)
