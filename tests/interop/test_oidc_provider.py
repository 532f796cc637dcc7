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
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from claimguard.testing import ForgedKey
from example_server import ExampleServer

HERE = Path(__file__).resolve().parent / "oidc_provider"
AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"
TIMEOUT = 10


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the oidc-provider interop tests, but {missing} is missing")
        pytest.skip(f"the oidc-provider interop tests need {' and '.join(missing)}")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
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
