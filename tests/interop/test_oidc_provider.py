"""claimguard against a real, independently written OpenID provider.

The npm package ``oidc-provider`` (pinned in ``oidc_provider/package.json``) runs on
127.0.0.1 and issues RFC 9068 JWT access tokens through the ``client_credentials``
grant with resource indicators; its extra-claims hook adds the namespaced roles claim.
example_api runs under gunicorn and is configured with nothing but the issuer
(discovery finds the keys). With ``CI=true`` these tests never skip.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from claimguard.reasons import sentence
from claimguard.testing import ForgedKey
from example_server import ExampleServer
from redis_server import RedisServer

HERE = Path(__file__).resolve().parent / "oidc_provider"
AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"
TIMEOUT = 10
#: The npm packages of oidc_provider/package.json the tests need (``npm ci`` if missing).
NODE_PACKAGES = ("oidc-provider", "oauth4webapi")


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the oidc-provider interop tests, but {missing} is missing")
        pytest.skip(f"the oidc-provider interop tests need {' and '.join(missing)}")
    if not all((HERE / "node_modules" / package).is_dir() for package in NODE_PACKAGES):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )


def private_jwk(key: ForgedKey) -> dict[str, Any]:
    from claimguard.keys import algorithm

    jwk: dict[str, Any] = algorithm(key.algorithm).to_jwk(key.private_key, as_dict=True)
    jwk.update(kid=key.kid, alg=key.algorithm, use="sig")
    # PyJWT marks private JWKs key_ops ["sign"]; oidc-provider would republish that on
    # the public key, and claimguard rightly skips a key whose key_ops exclude "verify".
    jwk.pop("key_ops", None)
    return jwk


class OIDCProvider:
    """``node server.mjs`` on a free loopback port."""

    def __init__(self, *, trailing_slash: bool = True) -> None:
        env = {
            **os.environ,
            "PORT": "0",
            "ISSUER_SUFFIX": "/" if trailing_slash else "",
            "AUDIENCE": AUDIENCE,
            "ROLES_CLAIM": ROLES,
        }
        self.process = subprocess.Popen(
            ["node", str(HERE / "server.mjs")],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            self.stop()
            raise RuntimeError("oidc-provider did not start within 30 s") from None
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"oidc-provider failed to start: {line!r}")
        self.issuer = line.split(" ", 1)[1].strip()
        self.base = self.issuer.rstrip("/")
        self.keys: list[ForgedKey] = []

    def configure(self, keys: list[ForgedKey], signing: ForgedKey) -> None:
        """Publish ``keys`` and sign new tokens with ``signing`` (a new Provider)."""
        self.keys = keys
        response = requests.post(
            f"{self.base}/__test__/configure",
            json={
                "jwks": {"keys": [private_jwk(key) for key in keys]},
                "alg": signing.algorithm,
                "kid": signing.kid,
            },
            timeout=TIMEOUT,
        )
        assert response.status_code == 204, response.text

    def token(self, client: str) -> str:
        discovery = requests.get(
            f"{self.base}/.well-known/openid-configuration", timeout=TIMEOUT
        ).json()
        response = requests.post(
            discovery["token_endpoint"],
            data={
                "grant_type": "client_credentials",
                "client_id": client,
                "client_secret": "secret",
                "resource": AUDIENCE,
                "scope": "read:products",
            },
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCProvider]:
    _require_node()
    running = OIDCProvider()
    key = ForgedKey.generate("RS256")
    running.configure([key], key)
    try:
        yield running
    finally:
        running.stop()


def api_for(provider: OIDCProvider, tmp_path: Path, **config: Any) -> ExampleServer:
    settings = {
        "CLAIMGUARD_ISSUER": provider.issuer,  # discovery only: no JWKS URL
        "CLAIMGUARD_AUDIENCE": AUDIENCE,
        "CLAIMGUARD_ROLES_CLAIM": ROLES,
        "CLAIMGUARD_ALGORITHMS": ["RS256", "PS256", "ES256", "EdDSA"],
        "EXAMPLE_API_DATABASE": str(tmp_path / "products.sqlite3"),
        **config,
    }
    return ExampleServer(settings, workers=2)


def call(api: ExampleServer, method: str, path: str, token: str, body: Any = None) -> int:
    response = requests.request(
        method,
        api.base + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    return response.status_code


def test_tokens_are_rfc9068_jwts_with_the_roles_claim(provider: OIDCProvider) -> None:
    token = provider.token("admin-client")
    header_b64, payload_b64, _ = token.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    import base64

    header = json.loads(base64.urlsafe_b64decode(pad(header_b64)))
    payload = json.loads(base64.urlsafe_b64decode(pad(payload_b64)))
    assert header["typ"] == "at+jwt"
    assert payload["aud"] == AUDIENCE
    assert payload[ROLES] == ["admin"]
    assert payload["iss"] == provider.issuer


def test_role_matrix_through_example_api(provider: OIDCProvider, tmp_path: Path) -> None:
    api = api_for(provider, tmp_path, CLAIMGUARD_STRICT_TYP=True)
    try:
        tokens = {
            client: provider.token(f"{client}-client")
            for client in ("viewer", "editor", "admin", "nobody")
        }
        product = {"name": "Mug", "price": 3}
        assert call(api, "GET", "/products", tokens["viewer"]) == 200
        assert call(api, "GET", "/products", tokens["nobody"]) == 403
        assert call(api, "POST", "/products", tokens["viewer"], product) == 403
        assert call(api, "POST", "/products", tokens["editor"], product) == 201
        assert call(api, "PATCH", "/products/1", tokens["editor"], {"stock": 2}) == 200
        assert call(api, "DELETE", "/products/1", tokens["editor"]) == 403
        assert call(api, "DELETE", "/products/1", tokens["admin"]) == 204
        assert call(api, "GET", "/me", tokens["nobody"]) == 200
    finally:
        api.stop()


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "EdDSA"])
def test_each_algorithm(provider: OIDCProvider, tmp_path: Path, algorithm: str) -> None:
    key = ForgedKey.generate(algorithm)
    provider.configure([key], key)
    api = api_for(provider, tmp_path)
    try:
        token = provider.token("viewer-client")
        assert token.count(".") == 2
        assert call(api, "GET", "/products", token) == 200
    finally:
        api.stop()
        original = ForgedKey.generate("RS256")
        provider.configure([original], original)


def test_key_rotation_while_the_api_runs(provider: OIDCProvider, tmp_path: Path) -> None:
    """A new kid is accepted on its first request, with no restart and no 401 window;
    a retired key's tokens are refused once the key set refreshes."""
    old = ForgedKey.generate("RS256")
    provider.configure([old], old)
    api = api_for(provider, tmp_path, CLAIMGUARD_JWKS_CACHE_TTL=1, CLAIMGUARD_JWKS_COOLDOWN=1)
    try:
        old_token = provider.token("viewer-client")
        assert call(api, "GET", "/products", old_token) == 200
        new = ForgedKey.generate("RS256")
        provider.configure([old, new], new)  # publish and sign with the new key at once
        new_token = provider.token("viewer-client")
        statuses = [call(api, "GET", "/products", new_token) for _ in range(20)]
        statuses += [call(api, "GET", "/products", old_token) for _ in range(20)]
        assert statuses == [200] * 40
        provider.configure([new], new)  # retire the old key
        deadline = time.monotonic() + 15
        refused = False
        while time.monotonic() < deadline and not refused:
            time.sleep(0.5)
            assert call(api, "GET", "/products", new_token) == 200
            refused = all(call(api, "GET", "/products", old_token) == 401 for _ in range(6))
        assert refused, "tokens of the retired key were still accepted after refresh"
    finally:
        api.stop()
        original = ForgedKey.generate("RS256")
        provider.configure([original], original)


def test_issuer_without_trailing_slash(tmp_path: Path) -> None:
    _require_node()
    bare = OIDCProvider(trailing_slash=False)
    try:
        key = ForgedKey.generate("RS256")
        bare.configure([key], key)
        assert not bare.issuer.endswith("/")
        api = api_for(bare, tmp_path)
        try:
            assert call(api, "GET", "/products", bare.token("viewer-client")) == 200
        finally:
            api.stop()
        # The same provider's tokens against a slash-suffixed issuer setting fail closed.
        wrong = api_for(bare, tmp_path, CLAIMGUARD_ISSUER=bare.issuer + "/")
        try:
            assert call(wrong, "GET", "/products", bare.token("viewer-client")) == 401
        finally:
            wrong.stop()
    finally:
        bare.stop()


def test_doctor_against_the_provider(provider: OIDCProvider, tmp_path: Path) -> None:
    """``flask claimguard doctor`` on example_api configured with nothing but the issuer:
    discovery, the provider's keys and its clock all check out."""
    from claimguard.cli import cli
    from example_api import create_app

    app = create_app(
        {
            "CLAIMGUARD_ISSUER": provider.issuer,
            "CLAIMGUARD_AUDIENCE": AUDIENCE,
            "CLAIMGUARD_ROLES_CLAIM": ROLES,
            "CLAIMGUARD_ALGORITHMS": ["RS256", "PS256", "ES256", "EdDSA"],
            "EXAMPLE_API_DATABASE": str(tmp_path / "products.sqlite3"),
        }
    )
    result = app.test_cli_runner().invoke(cli, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (report,) = document["issuers"]
    statuses = {check["check"]: check["status"] for check in report["checks"]}
    assert statuses == {"discovery": "ok", "jwks": "ok", "keys": "ok", "clock": "ok"}
    assert report["discovery_url"] == provider.base + "/.well-known/openid-configuration"
    published = [key.kid for key in provider.keys]
    assert [key["kid"] for key in report["keys"] if key["usable"]] == published


# -- DPoP (RFC 9449): oidc-provider's DPoP-bound tokens, oauth4webapi's proofs ------------
#
# dpop-client (role editor) is registered with dpop_bound_access_tokens: oidc-provider
# binds its tokens to the proof key (cnf.jkt). oidc_provider/dpop_client.mjs is the
# client, made of oauth4webapi: its key pair, its proofs, its nonce cache and its parsing
# of claimguard's WWW-Authenticate challenges.

DPOP_CLIENT = HERE / "dpop_client.mjs"
DPOP_TIMEOUT = 60


def dpop_client(
    provider: OIDCProvider,
    api: ExampleServer | None,
    calls: list[dict[str, Any]],
    *,
    replay: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the oauth4webapi client: a DPoP-bound token for dpop-client, then ``calls``
    (``{"method", "path", "body"?}``) against ``api`` (``None``: the token only); its JSON
    summary."""
    config = {
        "issuer": provider.issuer,
        "api": api.base if api is not None else "http://127.0.0.1:9",
        "client_id": "dpop-client",
        "client_secret": "secret",
        "resource": AUDIENCE,
        "scope": "read:products",
        "requests": calls,
        "replay": replay,
        "timeout_ms": TIMEOUT * 1000,
    }
    completed = subprocess.run(
        ["node", str(DPOP_CLIENT), json.dumps(config)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=DPOP_TIMEOUT,
    )
    assert completed.returncode == 0, (completed.stdout, completed.stderr[-2000:])
    summary: dict[str, Any] = json.loads(completed.stdout)
    return summary


def bearer(api: ExampleServer, path: str, token: str) -> requests.Response:
    return requests.get(
        api.base + path, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )


def dpop_api(provider: OIDCProvider, tmp_path: Path, **config: Any) -> ExampleServer:
    return api_for(provider, tmp_path, CLAIMGUARD_DPOP_MODE="required", **config)


def jwt_claims(token: str) -> dict[str, Any]:
    import base64

    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _challenge(answer: dict[str, Any]) -> dict[str, Any]:
    """The DPoP challenge of an answer, as oauth4webapi parsed it."""
    assert answer["challenges"], f"oauth4webapi found no challenge in {answer}"
    (challenge,) = [item for item in answer["challenges"] if item["scheme"] == "dpop"]
    parameters: dict[str, Any] = challenge["parameters"]
    return parameters


def test_provider_issues_dpop_bound_tokens(provider: OIDCProvider) -> None:
    """oidc-provider binds dpop-client's token to oauth4webapi's key, and refuses it a
    token without a proof; the other clients keep their plain bearer tokens."""
    token = dpop_client(provider, None, [])["token"]
    assert token["token_type"].lower() == "dpop"
    assert token["header"]["typ"] == "at+jwt"
    assert token["claims"]["cnf"] == {"jkt": token["key_thumbprint"]}
    assert token["claims"]["aud"] == AUDIENCE
    assert token["claims"][ROLES] == ["editor"]
    assert token["attempts"] == [{"status": 200, "nonce_used": None}]
    discovery = requests.get(
        f"{provider.base}/.well-known/openid-configuration", timeout=TIMEOUT
    ).json()
    assert "ES256" in discovery["dpop_signing_alg_values_supported"]
    refused = requests.post(
        discovery["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": "dpop-client",
            "client_secret": "secret",
            "resource": AUDIENCE,
        },
        timeout=TIMEOUT,
    )
    assert refused.status_code == 400, refused.text
    plain = provider.token("viewer-client")
    assert "cnf" not in jwt_claims(plain)


def test_dpop_required_accepts_the_library_proofs(provider: OIDCProvider, tmp_path: Path) -> None:
    """(a) CLAIMGUARD_DPOP_MODE=required: oauth4webapi's proofs with oidc-provider's
    DPoP-bound token pass, a fresh proof each request; the same token as Bearer does
    not, nor does an ordinary bearer token."""
    api = dpop_api(provider, tmp_path)
    try:
        summary = dpop_client(
            provider,
            api,
            [
                {"method": "GET", "path": "/products"},
                {"method": "POST", "path": "/products", "body": {"name": "Mug", "price": 3}},
                {"method": "PATCH", "path": "/products/1", "body": {"stock": 2}},
                {"method": "GET", "path": "/products/1"},
                {"method": "DELETE", "path": "/products/1"},  # editor: not admin
                {"method": "GET", "path": "/me"},
                # htu leaves the query out (RFC 9449 §4.2); %31 is "1" (RFC 3986 §6.2.2.2)
                {"method": "GET", "path": "/products?limit=5&offset=0"},
                {"method": "GET", "path": "/products/%31"},
            ],
        )
        statuses = [request["status"] for request in summary["requests"]]
        assert statuses == [200, 201, 200, 200, 403, 200, 200, 200], summary["requests"]
        answers = [answer for request in summary["requests"] for answer in request["attempts"]]
        assert len(answers) == 8  # no retry: no nonce asked for
        assert {answer["scheme"] for answer in answers} == {"DPoP"}
        assert {answer["nonce_used"] for answer in answers} == {None}
        assert len({answer["proof_jti"] for answer in answers}) == 8
        assert answers[0]["proof_htu"] == api.base + "/products"
        assert answers[6]["proof_htu"] == api.base + "/products"
        assert answers[7]["proof_htu"] == api.base + "/products/%31"
        assert summary["requests"][3]["attempts"][0]["body"]["stock"] == 2
        me = summary["requests"][5]["attempts"][0]["body"]
        assert me["roles"] == ["editor"]

        token = summary["token"]["access_token"]
        as_bearer = bearer(api, "/products", token)
        assert as_bearer.status_code == 401
        assert as_bearer.json() == {
            "error": "invalid_token",
            "error_description": sentence("token.dpop_required"),
        }
        assert as_bearer.headers["WWW-Authenticate"].startswith("DPoP ")
        assert 'error="invalid_token"' in as_bearer.headers["WWW-Authenticate"]
        ordinary = bearer(api, "/products", provider.token("viewer-client"))
        assert ordinary.status_code == 401
        assert ordinary.json()["error_description"] == sentence("token.dpop_required")
    finally:
        api.stop()


def test_dpop_nonce_through_the_library(provider: OIDCProvider, tmp_path: Path) -> None:
    """(b) CLAIMGUARD_DPOP_REQUIRE_NONCE: the first call gets 401 use_dpop_nonce and a
    DPoP-Nonce, which oauth4webapi reads (isDPoPNonceError) and caches; its retry with
    the nonce passes. Every answer carries a fresh nonce, so later calls need no retry."""
    api = dpop_api(
        provider,
        tmp_path,
        CLAIMGUARD_DPOP_NONCE_SECRET=secrets.token_urlsafe(48),
        CLAIMGUARD_DPOP_REQUIRE_NONCE=True,
    )
    try:
        summary = dpop_client(
            provider,
            api,
            [
                {"method": "GET", "path": "/products"},
                {"method": "POST", "path": "/products", "body": {"name": "Mug", "price": 3}},
                {"method": "GET", "path": "/products"},
            ],
        )
    finally:
        api.stop()
    first, *later = summary["requests"]
    assert first["retried"] is True
    challenge, retry = first["attempts"]
    assert challenge["status"] == 401
    assert challenge["nonce_used"] is None
    assert challenge["dpop_nonce"]
    assert challenge["www_authenticate"].startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in challenge["www_authenticate"]
    assert challenge["use_dpop_nonce"] is True  # oauth4webapi's own reading
    assert _challenge(challenge)["error"] == "use_dpop_nonce"
    assert "ES256" in _challenge(challenge)["algs"].split()
    assert challenge["body"]["error"] == "use_dpop_nonce"
    assert retry["status"] == 200
    assert retry["nonce_used"] == challenge["dpop_nonce"]
    assert retry["proof_jti"] != challenge["proof_jti"]
    assert retry["dpop_nonce"]  # RFC 9449 §8.2: the next nonce, with the answer
    assert [request["status"] for request in later] == [201, 200]
    for request in later:
        (answer,) = request["attempts"]
        assert answer["nonce_used"], "the library did not use the nonce it was given"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A real redis-server on 127.0.0.1 (CI=true fails rather than skips without it)."""
    return redis_server.url


#: How often the replay test sends the same proof again, each on a new connection.
REPLAYS = 6


def replay_refusals(api: ExampleServer) -> list[str]:
    """The pid of the worker of each ``dpop.replay`` refusal in the log, in order."""
    return [
        line.split("] [", 2)[1]  # "[date] [pid] [INFO] claimguard: refused ..."
        for line in api.log_tail(1_000_000).splitlines()
        if "reason=dpop.replay" in line
    ]


def test_replayed_library_proof_is_refused(
    provider: OIDCProvider, tmp_path: Path, redis_url: str
) -> None:
    """(c) The exact proof oauth4webapi made, sent again: 401 invalid_dpop_proof.

    example_api runs two gunicorn workers on a shared Redis replay store (the store a
    deployment with several workers must use): with the in-memory store, a copy that
    lands on the other worker would pass, as each worker remembers only its own proofs.
    The copies go out on new connections, and the refusals in the log come from both
    workers, so a refusal across workers is what is tested."""
    api = dpop_api(
        provider, tmp_path, CLAIMGUARD_DPOP_REPLAY_STORE=redis_url, EXAMPLE_API_LOG_LEVEL="INFO"
    )
    try:
        assert api.workers == 2
        summary = dpop_client(
            provider, api, [], replay={"method": "GET", "path": "/products", "times": REPLAYS}
        )
        assert len(replay_refusals(api)) == REPLAYS, api.log_tail()
        # /health answered as soon as one worker was up: the other may have booted only
        # now. Send the same proof again (new connections) until both workers refused it.
        sent = summary["replay"]["request"]
        headers = {"Authorization": sent["authorization"], "DPoP": sent["dpop"]}
        deadline = time.monotonic() + 20
        while len(workers := set(replay_refusals(api))) < 2 and time.monotonic() < deadline:
            again = requests.request(sent["method"], sent["url"], headers=headers, timeout=TIMEOUT)
            assert again.status_code == 401, again.text
            assert again.json()["error_description"] == sentence("dpop.replay")
        assert len(workers) == 2, f"the replays did not reach both workers:\n{api.log_tail()}"
    finally:
        api.stop()
    replay = summary["replay"]
    assert replay["original"]["status"] == 200
    (original,) = replay["original"]["attempts"]
    assert [answer["status"] for answer in replay["replays"]] == [401] * REPLAYS
    for answer in replay["replays"]:
        assert answer["proof_jti"] == original["proof_jti"]
        assert answer["www_authenticate"].startswith("DPoP ")
        assert 'error="invalid_dpop_proof"' in answer["www_authenticate"]
        assert _challenge(answer)["error"] == "invalid_dpop_proof"  # oauth4webapi's reading
        assert answer["body"] == {
            "error": "invalid_dpop_proof",
            "error_description": sentence("dpop.replay"),
        }


def test_dpop_allowed_takes_both_schemes(provider: OIDCProvider, tmp_path: Path) -> None:
    """(d) CLAIMGUARD_DPOP_MODE=allowed: an ordinary client's bearer token and
    dpop-client's bound token with oauth4webapi's proofs both pass; the bound token sent
    as Bearer is still refused (RFC 9449 §7.2), naming both schemes."""
    api = api_for(provider, tmp_path, CLAIMGUARD_DPOP_MODE="allowed")
    try:
        assert call(api, "GET", "/products", provider.token("viewer-client")) == 200
        assert (
            call(
                api, "POST", "/products", provider.token("editor-client"), {"name": "A", "price": 1}
            )
            == 201
        )
        summary = dpop_client(
            provider,
            api,
            [
                {"method": "GET", "path": "/products"},
                {"method": "POST", "path": "/products", "body": {"name": "B", "price": 2}},
            ],
        )
        assert [request["status"] for request in summary["requests"]] == [200, 201]
        assert {
            answer["scheme"] for request in summary["requests"] for answer in request["attempts"]
        } == {"DPoP"}
        as_bearer = bearer(api, "/products", summary["token"]["access_token"])
        assert as_bearer.status_code == 401
        assert as_bearer.json() == {
            "error": "invalid_token",
            "error_description": sentence("token.bound"),
        }
        challenges = as_bearer.headers["WWW-Authenticate"]
        assert challenges.startswith("Bearer ")
        assert "DPoP " in challenges
    finally:
        api.stop()
