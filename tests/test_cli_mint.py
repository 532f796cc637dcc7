"""``flask claimguard mint`` and the development issuer's key file it reads.

The key file is owner-only and labelled, survives a restart (same keys, same issuer
URL, earlier tokens still valid) and is refused when others could read it. ``mint``
signs tokens that example_api accepts or refuses as their options say, and refuses, in
one line, to mint for anything but the development issuer the app trusts.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from base64 import urlsafe_b64decode
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from claimguard.cli import cli
from claimguard.cli.mint import DEV_CLIENT_ID
from claimguard.cli.mint import KEY_FILE
from claimguard.cli.mint import dev_issuer_file
from claimguard.testing import ForgedIssuer
from claimguard.testing.issuer import KEY_FILE_WARNING
from claimguard.testing.issuer import KeyFile
from example_api import create_app

AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"
NOT_HERE = "no development issuer here: mint only works against the issuer `make demo` starts"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance folder of its own, so the repository's is never touched."""
    return tmp_path_factory.mktemp("instance")


@pytest.fixture(scope="module")
def dev_issuer(instance: Path) -> Iterator[ForgedIssuer]:
    """The development issuer, as ``make demo`` keeps it: saved in the instance folder."""
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as issuer:
        issuer.save(instance / KEY_FILE)
        yield issuer


def build(issuer: ForgedIssuer, instance: Path, tmp_path: Path) -> Flask:
    """example_api trusting ``issuer``, with ``instance`` as its instance folder."""
    app = create_app({**issuer.config(), "EXAMPLE_API_DATABASE": str(tmp_path / "db.sqlite3")})
    app.instance_path = str(instance)
    return app


@pytest.fixture
def app(dev_issuer: ForgedIssuer, instance: Path, tmp_path: Path) -> Flask:
    return build(dev_issuer, instance, tmp_path)


def mint(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, ["mint", *args])


def minted(app: Flask, *args: str) -> str:
    """The token ``mint`` printed: one line, nothing else."""
    result = mint(app, *args)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.count(".") == 2
    assert "\n" not in token
    return token


def refused(result: Result) -> str:
    """The one-line error of a refused command: no traceback, exit status 1."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the key file ----------------------------------------------------------------------


def test_the_key_file_is_owner_only_and_labelled(dev_issuer: ForgedIssuer, tmp_path: Path) -> None:
    previous = os.umask(0)  # even a umask that takes nothing away gives 0600
    try:
        path = dev_issuer.save(tmp_path / "keys" / KEY_FILE)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["warning"] == KEY_FILE_WARNING
    assert document["warning"].startswith("DEVELOPMENT ONLY")
    assert document["issuer"] == dev_issuer.issuer
    assert (document["audience"], document["roles_claim"]) == (AUDIENCE, ROLES)
    (key,) = document["keys"]
    assert key["kid"] == dev_issuer.kid
    assert key["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    # Nothing is left beside it: the temporary file it was written to is gone.
    assert [entry.name for entry in path.parent.iterdir()] == [KEY_FILE]


def test_a_restarted_issuer_has_the_same_keys_url_and_accepts_earlier_tokens(
    tmp_path: Path,
) -> None:
    path = tmp_path / KEY_FILE
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as first:
        first.save(path)
        token = first.mint(roles=["admin"])
        issuer, jwks, kid = first.issuer, first.jwks(), first.kid
    # The first one is closed, as after Ctrl-C: the second takes its port back.
    with ForgedIssuer.load(path) as second:
        assert (second.issuer, second.jwks(), second.kid) == (issuer, jwks, kid)
        assert (second.audience, second.roles_claim) == (AUDIENCE, ROLES)
        assert second.validator().validate(token).roles == frozenset({"admin"})


def test_a_key_file_others_can_read_is_refused(dev_issuer: ForgedIssuer, tmp_path: Path) -> None:
    path = dev_issuer.save(tmp_path / KEY_FILE)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match=r"mode 0644.*chmod 600"):
        KeyFile.read(path)
    with pytest.raises(PermissionError):
        ForgedIssuer.load(path)


def test_mint_refuses_a_key_file_others_can_read(dev_issuer: ForgedIssuer, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    dev_issuer.save(instance / KEY_FILE).chmod(0o640)
    line = refused(mint(build(dev_issuer, instance, tmp_path)))
    assert NOT_HERE in line
    assert "mode 0640" in line


# -- mint's tokens in example_api ------------------------------------------------------


def test_the_default_output_is_the_token_alone(app: Flask) -> None:
    token = minted(app, "--role", "viewer")
    response = app.test_client().get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["sub"] == "dev|minted"


def test_an_admin_token_passes_an_admin_route(app: Flask) -> None:
    token = minted(app, "--role", "admin", "--sub", "dev|alice")
    client = app.test_client()
    created = client.post("/products", json={"name": "Mug", "price": 9.5}, headers=bearer(token))
    assert created.status_code == 201
    deleted = client.delete(f"/products/{created.get_json()['id']}", headers=bearer(token))
    assert deleted.status_code == 204


def test_an_expired_token_is_refused_as_expired(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    token = minted(app, "--role", "admin", "--expired")
    with caplog.at_level(logging.INFO, logger="claimguard"):
        response = app.test_client().get("/products", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "token.expired" in caplog.text


def test_another_audience_is_refused(app: Flask) -> None:
    token = minted(app, "--role", "admin", "--audience", "https://other-api.example.com")
    response = app.test_client().get("/products", headers=bearer(token))
    assert response.status_code == 401


def test_an_id_token_is_refused(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    result = mint(app, "--role", "admin", "--id-token", "--json")
    shown = json.loads(result.output)
    claims = shown["claims"]
    assert claims["aud"] == DEV_CLIENT_ID
    assert {"nonce", "at_hash"} <= set(claims)
    with caplog.at_level(logging.INFO, logger="claimguard"):
        response = app.test_client().get("/products", headers=bearer(shown["token"]))
    assert response.status_code == 401
    assert "looks like an ID token" in caplog.text


def test_no_roles_is_forbidden_on_a_role_route(app: Flask) -> None:
    token = minted(app, "--no-roles")
    client = app.test_client()
    assert client.get("/products", headers=bearer(token)).status_code == 403
    assert client.get("/me", headers=bearer(token)).status_code == 200


def test_json_shows_the_claims_it_signed(app: Flask, dev_issuer: ForgedIssuer) -> None:
    result = mint(
        app,
        "--json",
        *("--role", "editor", "--role", "viewer"),
        *("--scope", "read:products", "--scope", "write:products"),
        *("--permission", "delete:products"),
        *("--expires-in", "120"),
    )
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.output)
    claims = shown["claims"]
    assert shown["header"] == {"alg": "RS256", "typ": "JWT", "kid": dev_issuer.kid}
    assert claims[ROLES] == ["editor", "viewer"]
    assert claims["scope"] == "read:products write:products"
    assert claims["permissions"] == ["delete:products"]
    assert (claims["iss"], claims["aud"]) == (dev_issuer.issuer, AUDIENCE)
    assert claims["exp"] - claims["iat"] == 120
    token = dev_issuer.validator().validate(shown["token"])
    assert token.subject == "dev|minted"
    assert token.roles == frozenset({"editor", "viewer"})
    payload = shown["token"].split(".")[1]
    assert json.loads(urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == claims


# -- refusals --------------------------------------------------------------------------


def test_mint_refuses_without_a_key_file(dev_issuer: ForgedIssuer, tmp_path: Path) -> None:
    app = build(dev_issuer, tmp_path / "empty-instance", tmp_path)
    line = refused(mint(app, "--role", "admin"))
    assert NOT_HERE in line
    assert str(dev_issuer_file(app)) in line


def test_mint_refuses_when_the_app_trusts_another_issuer(
    instance: Path, dev_issuer: ForgedIssuer, tmp_path: Path
) -> None:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as other:
        line = refused(mint(build(other, instance, tmp_path), "--role", "admin"))
    assert NOT_HERE in line
    assert f"does not trust the issuer in {instance / KEY_FILE} ({dev_issuer.issuer})" in line


def test_mint_refuses_an_issuer_off_loopback(dev_issuer: ForgedIssuer, tmp_path: Path) -> None:
    remote = "https://tenant.example.com/"
    KeyFile(remote, AUDIENCE, ROLES, dev_issuer.published_keys).write(tmp_path / KEY_FILE)
    app = create_app(
        {
            "CLAIMGUARD_ISSUER": [remote],
            "CLAIMGUARD_AUDIENCE": [AUDIENCE],
            "EXAMPLE_API_DATABASE": str(tmp_path / "db.sqlite3"),
        }
    )
    app.instance_path = str(tmp_path)
    line = refused(mint(app, "--role", "admin"))
    assert NOT_HERE in line
    assert "not on loopback" in line


def test_a_file_that_is_not_a_key_file_is_one_line(
    dev_issuer: ForgedIssuer, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / KEY_FILE).write_text("{}")
    (instance / KEY_FILE).chmod(0o600)
    line = refused(mint(build(dev_issuer, instance, tmp_path)))
    assert "is not a ForgedIssuer key file" in line


def test_role_and_no_roles_contradict(app: Flask) -> None:
    result = mint(app, "--role", "admin", "--no-roles")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "contradict" in result.output
