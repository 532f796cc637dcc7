"""example_web with DPoP (RFC 9449) in a real browser: sender-constrained tokens, end to end.

A second stack runs with the switch on (``EXAMPLE_WEB_DPOP=1``, see example_web/lib/auth0.ts):
@auth0/nextjs-auth0 binds the user's tokens to the Next.js server's ES256 key pair, the
local tenant (oidc-provider) puts ``cnf.jkt`` in the access token, and the products route
calls example_api through the SDK's fetcher, ``Authorization: DPoP`` with a fresh proof
per call. example_api runs with ``CLAIMGUARD_DPOP_MODE=required`` and server nonces
required, behind the recording proxy (``CLAIMGUARD_PUBLIC_URL`` is the proxy's URL, the
one a proof's ``htu`` names). Checked here, with headless Chromium driving the page:

* what the API received: the DPoP scheme, never Bearer; a proof whose ``jwk`` thumbprint
  (RFC 7638) is the token's ``cnf.jkt`` and whose ``htm``, ``htu`` and ``ath`` name the
  call; the first proof answered 401 ``use_dpop_nonce`` with a ``DPoP-Nonce``, and the SDK
  retrying once with that nonce;
* the page lists and creates products as before; a viewer's create is a 403, relayed as
  readable JSON and explained on the page;
* a recorded (token, proof) pair sent again, straight to example_api, is refused as a
  replay (401 ``invalid_dpop_proof``);
* neither the token nor a proof ever reaches the browser (page, storage, cookies, any
  response it received).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from claimguard.reasons import sentence
from example_web import launch

from .conftest import Traffic
from .conftest import Visitor
from .conftest import WebStack
from .conftest import save_screenshot
from .conftest import why_not_runnable
from .recorder import Seen
from .recorder import decode_jwt
from .test_example_web import DOT_SEGMENT_PATHS
from .test_example_web import LIST_PATH
from .test_example_web import ROLE_REFUSED
from .test_example_web import STORAGE_SCRIPT
from .test_example_web import act
from .test_example_web import cookie_header
from .test_example_web import message
from .test_example_web import raw_request
from .test_example_web import roles_claim_in_action
from .test_example_web import row_ids

pytestmark = pytest.mark.slow

if why_not_runnable() is not None and os.environ.get("CI") != "true":
    pytest.skip(why_not_runnable() or "", allow_module_level=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no white space."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def challenge_error(seen: Seen) -> str | None:
    """The ``error`` of the API's ``DPoP`` challenge, ``None`` without one."""
    challenge = seen.answer_headers.get("www-authenticate", "")
    if not challenge.startswith("DPoP "):
        return None
    for part in challenge[5:].split(","):
        name, _, value = part.strip().partition("=")
        if name == "error":
            return value.strip('"')
    return None


def check_dpop_call(seen: Seen, web: WebStack, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A call example_api received with DPoP: the token (an Auth0-shaped JWT bound to the
    proof's key) and its proof (naming this very call). Their payloads."""
    assert "cookie" not in seen.headers, "the browser's cookies must not reach the API"
    assert seen.token is None, "never the Bearer scheme"
    assert seen.dpop_token, f"{seen.method} {seen.path} arrived without Authorization: DPoP"
    assert seen.proof, f"{seen.method} {seen.path} arrived without a DPoP proof"
    header, token = decode_jwt(seen.dpop_token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"  # Auth0's default access token profile, DPoP or not
    assert token["iss"] == web.issuer
    assert token["aud"] == [launch.AUDIENCE, f"{web.issuer}userinfo"]
    assert token["azp"] == launch.CLIENT_ID
    assert token["sub"] == f"auth0|demo-{user}"
    assert token[roles_claim_in_action()] == launch.users()[user]["roles"]

    proof_header, proof = decode_jwt(seen.proof)
    assert proof_header["typ"] == "dpop+jwt"
    assert proof_header["alg"] == "ES256"
    jwk = proof_header["jwk"]
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert "d" not in jwk, "a public key only"
    assert token["cnf"] == {"jkt": jwk_thumbprint(jwk)}, "the token is bound to the proof's key"
    assert proof["htm"] == seen.method
    assert proof["htu"] == web.proxy.url + urlsplit(seen.path).path  # no query (RFC 9449 §4.2)
    assert proof["ath"] == b64url(hashlib.sha256(seen.dpop_token.encode("ascii")).digest())
    assert isinstance(proof["jti"], str)
    assert proof["jti"]
    assert abs(proof["iat"] - time.time()) < 120
    return token, proof


def nonce_round(seen: list[Seen], method: str, status: int) -> tuple[Seen, Seen]:
    """The SDK's nonce dance for one call: a proof without this server's nonce, answered
    401 use_dpop_nonce with a DPoP-Nonce; then the same call, with that nonce."""
    calls = [entry for entry in seen if entry.method == method]
    assert [entry.status for entry in calls] == [401, status], [
        (entry.method, entry.path, entry.status) for entry in calls
    ]
    first, retry = calls
    assert first.path == retry.path
    assert challenge_error(first) == "use_dpop_nonce", first.answer_headers
    nonce = first.answer_headers.get("dpop-nonce")
    assert nonce, "the 401 carries the nonce to use"
    _, first_proof = decode_jwt(first.proof or "")
    _, retry_proof = decode_jwt(retry.proof or "")
    assert first_proof.get("nonce") != nonce, "the first proof had no nonce of this server"
    assert retry_proof["nonce"] == nonce, "the retry carries the server's nonce"
    assert retry_proof["jti"] != first_proof["jti"], "a new proof for the retry"
    assert retry.body == first.body, "the same request again"
    return first, retry


def send_to_api(web: WebStack, seen: Seen) -> tuple[int, dict[str, str], dict[str, Any]]:
    """``seen``'s token and proof, sent again from here straight to example_api."""
    api = urlsplit(web.stack.api_url)
    connection = http.client.HTTPConnection(api.hostname or "", api.port, timeout=15)
    try:
        connection.request(
            seen.method,
            seen.path,
            body=seen.body or None,
            headers={
                "Authorization": f"DPoP {seen.dpop_token}",
                "DPoP": seen.proof or "",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if seen.body else {}),
            },
        )
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def check_nothing_leaked(visitor: Visitor, web: WebStack, traffic: Traffic) -> None:
    """Neither a token nor a proof that the API received ever reached the browser: not
    in the page, its storage or cookies, nor in any response the browser got."""
    tokens = web.proxy.dpop_tokens()
    proofs = {seen.proof for seen in web.proxy.seen() if seen.proof}
    assert tokens
    assert proofs
    page = visitor.page
    held = [page.content(), json.dumps(page.evaluate(STORAGE_SCRIPT))]
    held += [f"{cookie['name']}={cookie['value']}" for cookie in visitor.context.cookies()]
    with traffic.lock:
        received = list(traffic.responses)
    assert any(b'"items"' in item.body for item in received), "the responses were recorded"
    everything = held + [f"{item.url}\n{item.headers}" for item in received]
    everything += [item.body.decode("latin-1") for item in received]
    # Whole, and by signature alone (a value cut or re-encoded elsewhere).
    needles = tokens | proofs | {value.rsplit(".", 1)[1] for value in tokens | proofs}
    leaks = [needle[:20] for needle in needles for text in everything if needle in text]
    assert leaks == [], "a token or a proof reached the browser"


# --------------------------------------------------------------------------------------


def test_editor_lists_and_creates_with_dpop(
    visit_dpop: Any, web_dpop: WebStack, traffic: Traffic, screenshots: Any
) -> None:
    web = web_dpop
    editor: Visitor = visit_dpop()
    mark = web.proxy.count()
    editor.sign_in("editor")
    page = editor.page
    listed = web.proxy.since(mark)
    # The page's first list call: 401 use_dpop_nonce, then the SDK's retry with it.
    first, retry = nonce_round(listed, "GET", 200)
    assert first.path.startswith("/products?")
    check_dpop_call(first, web, "editor")
    token, proof = check_dpop_call(retry, web, "editor")
    assert retry.answer_headers.get("dpop-nonce"), "a fresh nonce with every answer (§8.2)"
    assert row_ids(editor), "the page shows the products"

    name = f"DPoP mug {uuid.uuid4().hex[:6]}"
    page.fill("[data-testid=create-name]", name)
    page.fill("[data-testid=create-price]", "9.5")
    mark = web.proxy.count()
    response = act(editor, "[data-testid=create-submit]", "POST", LIST_PATH)
    assert response.status == 201
    product = response.json()
    assert response.headers["location"] == f"{LIST_PATH}/{product['id']}"
    assert message(editor) == ("201", f"Created “{name}”.")
    assert page.inner_text(f"[data-testid=name-{product['id']}]") == name
    created = web.proxy.since(mark)
    _, stored = nonce_round(created, "POST", 201)
    assert json.loads(stored.body)["name"] == name
    created_token, created_proof = check_dpop_call(stored, web, "editor")
    assert created_token["jti"] == token["jti"], "the same token, a new proof per call"
    assert created_proof["jti"] != proof["jti"]
    save_screenshot(page, screenshots, "dpop-editor")
    check_nothing_leaked(editor, web, traffic)

    # The list call's token and proof, replayed from here straight to example_api.
    status, headers, body = send_to_api(web, retry)
    assert status == 401
    assert headers["www-authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in headers["www-authenticate"]
    assert body["error"] == "invalid_dpop_proof"
    assert body["error_description"] == sentence("dpop.replay")


def test_viewer_create_is_still_403_with_dpop(visit_dpop: Any, web_dpop: WebStack) -> None:
    web = web_dpop
    viewer: Visitor = visit_dpop()
    viewer.sign_in("viewer")
    page = viewer.page
    assert row_ids(viewer), "the viewer lists"
    page.fill("[data-testid=create-name]", "Viewer's DPoP mug")
    page.fill("[data-testid=create-price]", "3")
    mark = web.proxy.count()
    response = act(viewer, "[data-testid=create-submit]", "POST", LIST_PATH)
    # oauth4webapi throws on the API's challenge; the route relays the answer in it.
    assert response.status == 403
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "insufficient_scope"
    assert "www-authenticate" not in response.headers
    status, text = message(viewer)
    assert status == "403"
    assert ROLE_REFUSED in text
    refused = web.proxy.since(mark)
    _, denied = nonce_round(refused, "POST", 403)
    assert challenge_error(denied) == "insufficient_scope"
    check_dpop_call(denied, web, "viewer")

    # The DPoP path refuses what the Bearer path refuses, before any token or proof.
    headers = {"Cookie": cookie_header(viewer)}
    mark = web.proxy.count()
    # (An empty segment never gets here: Next.js redirects "//" to "/" first, 308.)
    for path in DOT_SEGMENT_PATHS:
        status, answer_headers, body = raw_request(web, "GET", path, headers)
        assert answer_headers["content-type"].startswith("application/json"), path
        assert (status, json.loads(body)["error"]) == (400, "invalid_path"), path
    assert web.proxy.since(mark) == [], "nothing was forwarded to example_api"
