"""example_web in a real browser: the calling side of claimguard, end to end.

Headless Chromium signs in to the local tenant (oidc-provider shaped like Auth0) as each
demo user, and drives the Next.js page through the role matrix. The Next.js server gets
the access token with @auth0/nextjs-auth0 and forwards each call to example_api (through
a recording proxy, so the tests see exactly what the API received). Checked here:

* the role matrix, as the API decides it and the page explains it (403 relayed);
* the token the API received: a JWT for the API audience, from the tenant's issuer, in
  Auth0's shape, whose namespaced roles claim is the one the Post-Login Action file sets;
* paths that try to climb out of /api/products, and cross-site writes, never reach it;
* a forced refresh gives a new token that the API accepts;
* the browser never holds the access token, and never talks to anything but loopback.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from example_api.config import DEFAULT_ROLES_CLAIM
from example_web import launch

from .conftest import Traffic
from .conftest import Visitor
from .conftest import WebStack
from .conftest import save_screenshot
from .conftest import why_not_runnable
from .recorder import Seen
from .recorder import decode_jwt

pytestmark = pytest.mark.slow

# One line for the whole module where the tools are missing; with CI=true the
# web_requirements fixture fails every test instead.
if why_not_runnable() is not None and os.environ.get("CI") != "true":
    pytest.skip(why_not_runnable() or "", allow_module_level=True)

LIST_PATH = "/api/products"
ROLE_REFUSED = "Your role cannot do this"


def roles_claim_in_action() -> str:
    """The roles claim name exactly as written in the Post-Login Action file."""
    source = launch.ACTION_FILE.read_text("utf-8")
    namespace = re.search(r'const NAMESPACE = "([^"]+)";', source)
    assert namespace, "the Action defines its NAMESPACE"
    assert "api.accessToken.setCustomClaim(`${NAMESPACE}/roles`, roles)" in source
    return f"{namespace.group(1)}/roles"


# --------------------------------------------------------------------------------------
# Helpers


def act(visitor: Visitor, selector: str, method: str, path: str) -> Any:
    """Click ``selector``, wait for the page's call ``method path`` and for the page
    to settle; the browser's response (a Playwright ``Response``)."""
    page = visitor.page

    def is_call(response: Any) -> bool:
        return response.request.method == method and urlsplit(response.url).path == path

    with page.expect_response(is_call) as info:
        page.click(selector)
    visitor.wait_idle()
    return info.value


def message(visitor: Visitor) -> tuple[str, str]:
    """The page's message: the HTTP status it explains and its text."""
    box = visitor.page.locator("[data-testid=message]")
    return box.get_attribute("data-status") or "", box.inner_text()


def row_ids(visitor: Visitor) -> list[int]:
    ids = visitor.page.locator("[data-testid=product-list] tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.testid)"
    )
    return [int(value.removeprefix("product-")) for value in ids]


def browser_fetch(visitor: Visitor, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """``fetch`` from the page itself (same origin, session cookie, Origin header)."""
    status, text = visitor.page.evaluate(
        """async ([method, path, body]) => {
            const init = { method };
            if (body !== null) {
              init.body = JSON.stringify(body);
              init.headers = { "Content-Type": "application/json" };
            }
            const response = await fetch(path, init);
            return [response.status, await response.text()];
        }""",
        [method, path, body],
    )
    return status, json.loads(text) if text else None


def raw_request(
    web: WebStack,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    chunked: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One request exactly as written (no URL normalisation), like curl --path-as-is;
    ``chunked`` sends the body without a Content-Length (RFC 9112 §7.1)."""
    port = urlsplit(web.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", f"localhost:{port}")
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None and chunked:
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for start in range(0, len(body), 16384):
                piece = body[start : start + 16384]
                connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            connection.send(b"0\r\n\r\n")
        else:
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
        response = connection.getresponse()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answer_headers, response.read()
    finally:
        connection.close()


def cookie_header(visitor: Visitor) -> str:
    cookies = visitor.context.cookies(visitor.web.url)
    return "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in cookies)


def check_forwarded_token(seen: Seen, web: WebStack, user: str) -> dict[str, Any]:
    """The call example_api received for ``user``: an Auth0-shaped JWT for the API
    whose roles claim the Post-Login Action set; never a browser cookie."""
    assert "cookie" not in seen.headers, "the browser's cookies must not reach the API"
    assert seen.token, f"{seen.method} {seen.path} arrived without a bearer token"
    header, payload = decode_jwt(seen.token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"  # Auth0's default access token profile
    assert header.get("kid")
    assert payload["iss"] == web.issuer
    assert web.issuer.endswith("/")
    assert payload["aud"] == [launch.AUDIENCE, f"{web.issuer}userinfo"]
    assert payload["azp"] == launch.CLIENT_ID
    assert payload["sub"] == f"auth0|demo-{user}"
    assert payload[roles_claim_in_action()] == launch.users()[user]["roles"]
    return payload


# --------------------------------------------------------------------------------------
# The role matrix


def test_the_action_claim_is_the_one_the_api_reads() -> None:
    assert roles_claim_in_action() == launch.ROLES_CLAIM == DEFAULT_ROLES_CLAIM


def test_viewer_lists_but_cannot_create_or_edit(
    visit: Any, web: WebStack, screenshots: Any
) -> None:
    viewer: Visitor = visit()
    mark = web.proxy.count()
    viewer.sign_in("viewer")
    page = viewer.page
    assert page.get_attribute("[data-testid=roles]", "data-roles") == "viewer"
    assert page.inner_text("[data-testid=user-name]") == "Vera Viewer"
    ids = row_ids(viewer)
    assert ids, "the viewer sees the seeded products"
    listed = [seen for seen in web.proxy.since(mark) if seen.path.startswith("/products?")]
    assert listed
    assert listed[-1].status == 200
    check_forwarded_token(listed[-1], web, "viewer")

    page.fill("[data-testid=create-name]", "Viewer's mug")
    page.fill("[data-testid=create-price]", "3")
    mark = web.proxy.count()
    response = act(viewer, "[data-testid=create-submit]", "POST", LIST_PATH)
    assert response.status == 403
    assert response.json()["error"] == "insufficient_scope"
    status, text = message(viewer)
    assert status == "403"
    assert ROLE_REFUSED in text
    assert "editor or admin" in text
    assert [(seen.method, seen.status) for seen in web.proxy.since(mark)] == [("POST", 403)]

    page.click(f"[data-testid=edit-{ids[0]}]")
    page.fill(f"[data-testid=edit-name-{ids[0]}]", "Renamed by a viewer")
    response = act(viewer, f"[data-testid=save-{ids[0]}]", "PATCH", f"{LIST_PATH}/{ids[0]}")
    assert response.status == 403
    assert message(viewer)[0] == "403"
    save_screenshot(page, screenshots, "viewer")


def test_editor_creates_and_edits_but_cannot_delete(
    visit: Any, web: WebStack, screenshots: Any
) -> None:
    editor: Visitor = visit()
    editor.sign_in("editor")
    page = editor.page
    name = f"Editor mug {uuid.uuid4().hex[:6]}"
    page.fill("[data-testid=create-name]", name)
    page.fill("[data-testid=create-price]", "12.5")
    page.fill("[data-testid=create-stock]", "4")
    mark = web.proxy.count()
    response = act(editor, "[data-testid=create-submit]", "POST", LIST_PATH)
    assert response.status == 201
    product = response.json()
    # Relayed from the API, translated to this app's path; the ETag as the API sent it.
    assert response.headers["location"] == f"{LIST_PATH}/{product['id']}"
    assert response.headers["etag"].startswith('"')
    assert "no-store" in response.headers["cache-control"]
    assert message(editor) == ("201", f"Created “{name}”.")
    assert page.inner_text(f"[data-testid=name-{product['id']}]") == name
    created = [seen for seen in web.proxy.since(mark) if seen.method == "POST"]
    assert [seen.status for seen in created] == [201]
    check_forwarded_token(created[0], web, "editor")

    page.click(f"[data-testid=edit-{product['id']}]")
    page.fill(f"[data-testid=edit-name-{product['id']}]", f"{name} (edited)")
    page.fill(f"[data-testid=edit-price-{product['id']}]", "13")
    response = act(
        editor, f"[data-testid=save-{product['id']}]", "PATCH", f"{LIST_PATH}/{product['id']}"
    )
    assert response.status == 200
    assert response.json()["price"] == 13
    assert page.inner_text(f"[data-testid=name-{product['id']}]") == f"{name} (edited)"

    response = act(
        editor, f"[data-testid=delete-{product['id']}]", "DELETE", f"{LIST_PATH}/{product['id']}"
    )
    assert response.status == 403
    status, text = message(editor)
    assert status == "403"
    assert ROLE_REFUSED in text
    assert "admin" in text
    assert product["id"] in row_ids(editor), "the product is still there"
    save_screenshot(page, screenshots, "editor")


def test_admin_deletes(visit: Any, web: WebStack, screenshots: Any) -> None:
    admin: Visitor = visit()
    admin.sign_in("admin")
    page = admin.page
    page.fill("[data-testid=create-name]", "To be deleted")
    page.fill("[data-testid=create-price]", "1")
    created = act(admin, "[data-testid=create-submit]", "POST", LIST_PATH)
    assert created.status == 201
    product_id = created.json()["id"]
    assert product_id in row_ids(admin)

    mark = web.proxy.count()
    response = act(
        admin, f"[data-testid=delete-{product_id}]", "DELETE", f"{LIST_PATH}/{product_id}"
    )
    assert response.status == 204
    assert message(admin) == ("204", "Deleted “To be deleted”.")
    assert product_id not in row_ids(admin)
    deleted = [seen for seen in web.proxy.since(mark) if seen.method == "DELETE"]
    assert [seen.status for seen in deleted] == [204]
    check_forwarded_token(deleted[0], web, "admin")
    save_screenshot(page, screenshots, "admin")


def test_a_user_without_a_role_gets_403_everywhere(
    visit: Any, web: WebStack, screenshots: Any
) -> None:
    nobody: Visitor = visit()
    mark = web.proxy.count()
    nobody.sign_in("nobody")
    page = nobody.page
    assert page.get_attribute("[data-testid=roles]", "data-roles") == ""
    status, text = message(nobody)
    assert status == "403"
    assert ROLE_REFUSED in text
    assert page.locator("[data-testid=no-list]").is_visible()

    page.fill("[data-testid=create-name]", "Nobody's mug")
    page.fill("[data-testid=create-price]", "2")
    assert act(nobody, "[data-testid=create-submit]", "POST", LIST_PATH).status == 403
    save_screenshot(page, screenshots, "nobody")

    for method, body in (
        ("GET", None),
        ("PUT", {"name": "x", "price": 1}),
        ("PATCH", {}),
        ("DELETE", None),
    ):
        status, answer = browser_fetch(nobody, method, f"{LIST_PATH}/1", body)
        assert (method, status, answer["error"]) == (method, 403, "insufficient_scope")

    seen = web.proxy.since(mark)
    assert {entry.status for entry in seen} == {403}
    assert len(seen) == 6  # the list, the create, and the four calls above
    payload = check_forwarded_token(seen[0], web, "nobody")
    assert payload[roles_claim_in_action()] == []  # present, and empty


# --------------------------------------------------------------------------------------
# What never reaches the API


def test_a_signed_out_call_gets_401(visit: Any, web: WebStack) -> None:
    stranger: Visitor = visit()
    stranger.page.goto(web.url + "/")
    assert stranger.page.locator("[data-testid=login]").is_visible()
    mark = web.proxy.count()
    for method, body in (("GET", None), ("POST", {"name": "x", "price": 1}), ("DELETE", None)):
        path = LIST_PATH if method != "DELETE" else f"{LIST_PATH}/1"
        status, answer = browser_fetch(stranger, method, path, body)
        assert (status, answer["error"]) == (401, "unauthorized")
    status, headers, body = raw_request(web, "GET", LIST_PATH, {})
    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == "unauthorized"
    assert web.proxy.since(mark) == []


DOT_SEGMENT_PATHS = [
    # Dot segments, plain or percent-encoded (RFC 3986 §5.2.4 would resolve them).
    "/api/products/../me",
    "/api/products/1/../../me",
    "/api/products/%2e%2e/me",
    "/api/products/%2E%2E/me",
    "/api/products/.%2e/me",
    "/api/products/%2e./me",
    "/api/products/./../me",
    "/api/products/..",
    # Encoded separators, double encoding, and other characters no API path needs.
    "/api/products/..%2fme",
    "/api/products/%2e%2e%2fme",
    "/api/products/1%2F..%2F..%2Fme",
    "/api/products/..%5cme",
    "/api/products/%252e%252e/me",
    "/api/products/..;/me",
]


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "signed-out"])
def test_dot_segments_never_reach_me(visit: Any, web: WebStack, signed_in: bool) -> None:
    visitor: Visitor = visit()
    if signed_in:
        visitor.sign_in("admin")
    else:
        visitor.page.goto(web.url + "/")
    headers = {"Cookie": cookie_header(visitor)} if signed_in else {}
    mark = web.proxy.count()
    for path in DOT_SEGMENT_PATHS:
        for method in ("GET", "DELETE"):
            status, answer_headers, body = raw_request(web, method, path, headers)
            assert answer_headers["content-type"].startswith("application/json"), path
            assert (status, json.loads(body)["error"]) == (400, "invalid_path"), (method, path)
    # A browser resolves the dot segments itself, before sending anything: /api/me.
    status, answer = browser_fetch(visitor, "GET", "/api/products/%2e%2e/me")
    assert (status, answer["error"]) == (404, "not_found")
    assert web.proxy.since(mark) == [], "nothing was forwarded to example_api"


def test_writes_the_route_refuses_never_reach_the_api(visit: Any, web: WebStack) -> None:
    editor: Visitor = visit()
    editor.sign_in("editor")
    cookie = cookie_header(editor)
    body = json.dumps({"name": "forged", "price": 1}).encode()
    mark = web.proxy.count()
    for extra in (
        {},  # no Origin at all
        {"Origin": "http://evil.example"},
        {"Origin": web.url, "Sec-Fetch-Site": "cross-site"},
    ):
        headers = {"Cookie": cookie, "Content-Type": "application/json", **extra}
        status, _, answer = raw_request(web, "POST", LIST_PATH, headers, body)
        assert (status, json.loads(answer)["error"]) == (403, "cross_site_request"), extra
    # A form post (what a cross-site page can send without CORS) is not JSON: 415.
    headers = {"Cookie": cookie, "Origin": web.url, "Content-Type": "text/plain"}
    status, _, answer = raw_request(web, "POST", LIST_PATH, headers, body)
    assert (status, json.loads(answer)["error"]) == (415, "unsupported_media_type")
    # Over 64 KiB, declared or streamed in chunks: 413, without reading it all.
    headers["Content-Type"] = "application/json"
    large = json.dumps({"name": "x", "price": 1, "description": "x" * 70_000}).encode()
    for chunked in (False, True):
        status, _, answer = raw_request(web, "POST", LIST_PATH, headers, large, chunked=chunked)
        assert (status, json.loads(answer)["error"]) == (413, "payload_too_large"), chunked
    assert web.proxy.since(mark) == []


# --------------------------------------------------------------------------------------
# Refresh, logout


def test_a_forced_refresh_gives_a_new_token_the_api_accepts(visit: Any, web: WebStack) -> None:
    editor: Visitor = visit()
    editor.sign_in("editor")
    mark = web.proxy.count()
    assert act(editor, "[data-testid=reload]", "GET", LIST_PATH).status == 200
    before = web.proxy.since(mark)[-1]

    response = act(editor, "[data-testid=refresh-token]", "POST", "/api/session/refresh")
    assert response.status == 200
    answer = response.json()
    assert answer["refreshed"] is True
    assert isinstance(answer["expires_at"], int)
    assert set(answer) == {"refreshed", "expires_at"}  # never the token
    assert message(editor)[0] == "200"

    mark = web.proxy.count()
    assert act(editor, "[data-testid=reload]", "GET", LIST_PATH).status == 200
    after = web.proxy.since(mark)[-1]
    assert after.status == 200, "example_api accepted the refreshed token"
    assert before.token != after.token
    old = check_forwarded_token(before, web, "editor")
    new = check_forwarded_token(after, web, "editor")
    assert new["jti"] != old["jti"]
    assert new["iat"] >= old["iat"]
    # The page keeps working with the new token.
    assert act(editor, "[data-testid=reload]", "GET", LIST_PATH).status == 200
    assert web.proxy.since(mark)[-1].token == after.token


def test_logout_ends_both_sessions(visit: Any, web: WebStack) -> None:
    admin: Visitor = visit()
    admin.sign_in("admin")
    page = admin.page
    page.click("[data-testid=logout]")
    page.wait_for_url(web.url + "/")
    page.wait_for_selector("[data-testid=login]")
    status, answer = browser_fetch(admin, "GET", LIST_PATH)
    assert (status, answer["error"]) == (401, "unauthorized")
    # The tenant's session is gone too (RP-initiated logout): it asks for a password.
    page.click("[data-testid=login]")
    page.wait_for_selector("#username")


def answering(status: int, body: Any) -> Any:
    """A route handler that answers with ``status`` and the JSON ``body``."""
    return lambda route: route.fulfill(status=status, json=body)


def test_the_page_explains_401_and_503(visit: Any) -> None:
    viewer: Visitor = visit()
    viewer.sign_in("viewer")
    page = viewer.page
    for status, body, expected in (
        (401, {"error": "unauthorized"}, "sign in again"),
        (503, {"error": "temporarily_unavailable"}, "try again shortly"),
    ):
        # Only this page's next list call is answered here, as the route would answer.
        page.route("**/api/products?limit=100", answering(status, body))
        act(viewer, "[data-testid=reload]", "GET", LIST_PATH)
        page.unroute("**/api/products?limit=100")
        shown, text = message(viewer)
        assert shown == str(status)
        assert expected in text


# --------------------------------------------------------------------------------------
# Last: what the browser held and where it went, over the whole session.

STORAGE_SCRIPT = """() => ({
    cookie: document.cookie,
    local: JSON.stringify(Object.entries(localStorage)),
    session: JSON.stringify(Object.entries(sessionStorage)),
    scripts: Array.from(document.scripts).map(script => script.src + script.text).join("\\n"),
})"""


def test_the_browser_never_holds_the_access_token(
    visit: Any, web: WebStack, traffic: Traffic
) -> None:
    editor: Visitor = visit()
    editor.sign_in("editor")
    act(editor, "[data-testid=refresh-token]", "POST", "/api/session/refresh")
    act(editor, "[data-testid=reload]", "GET", LIST_PATH)
    page = editor.page
    held = [page.content(), json.dumps(page.evaluate(STORAGE_SCRIPT))]
    held += [f"{cookie['name']}={cookie['value']}" for cookie in editor.context.cookies()]
    # The SDK's /auth/access-token route (which hands the token to client-side code)
    # is switched off.
    status, _ = browser_fetch_text(editor, "/auth/access-token")
    assert status == 404

    tokens = web.proxy.tokens()
    assert len(tokens) >= 2, "the proxy saw this test's tokens at least"
    with traffic.lock:
        received = list(traffic.responses)
    assert len(received) > 20, "the browser's responses were recorded"
    assert any(b'"items"' in item.body for item in received), "with their bodies"
    everything = held + [f"{item.url}\n{item.headers}" for item in received]
    everything += [item.body.decode("latin-1") for item in received]
    # The whole token, and its signature alone (a token cut or re-encoded elsewhere).
    needles = tokens | {token.rsplit(".", 1)[1] for token in tokens}
    leaks = [needle[:20] for needle in needles for text in everything if needle in text]
    assert leaks == [], "the access token reached the browser"


def browser_fetch_text(visitor: Visitor, path: str) -> tuple[int, str]:
    status, text = visitor.page.evaluate(
        "async path => { const r = await fetch(path); return [r.status, await r.text()]; }", path
    )
    return status, text


def test_nothing_leaves_the_machine(visit: Any, web: WebStack, traffic: Traffic) -> None:
    viewer: Visitor = visit()
    viewer.sign_in("viewer")
    viewer.page.click("[data-testid=logout]")
    viewer.page.wait_for_selector("[data-testid=login]")
    with traffic.lock:
        blocked, hosts = list(traffic.blocked), set(traffic.hosts)
    assert blocked == [], f"the browser tried to leave loopback: {blocked}"
    assert hosts == {"localhost"}, hosts
    with traffic.lock:
        assert traffic.console_errors == []
    # And example_api only ever got product calls, never /me.
    paths = {urlsplit(seen.path).path for seen in web.proxy.seen()}
    assert paths
    assert all(re.fullmatch(r"/products(/[0-9]+)?", path) for path in paths), paths
