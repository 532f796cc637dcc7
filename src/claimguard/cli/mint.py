"""``flask claimguard mint``: a token from the development issuer, to try an API by hand.

``make demo`` runs a development issuer (the test kit's
:class:`~claimguard.testing.ForgedIssuer`) whose keys it keeps in a key file in the
app's instance folder (:data:`KEY_FILE`). ``mint`` signs a token with those keys, for
the app loaded with ``--app``, so a second terminal can ask for exactly the token it
needs::

    TOKEN=$(flask --app example_api:create_app claimguard mint --role admin)
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/products

It mints **only** against that development issuer: the key file must be owner-only,
the issuer it records must be on loopback, and the app must trust that very issuer.
Anything else is refused with one line saying why, never a traceback. A token for a
real tenant comes from the tenant, never from here.

Tokens are shaped like Auth0's access tokens (``iss``, ``sub``, ``aud``, ``azp``,
``iat``, ``exp``, roles under the app's first roles claim), and a few options make the
tokens an app must refuse: ``--expired``, ``--audience`` another API, ``--id-token``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask

from ..discovery import is_loopback_url
from ..request_check import AppState
from ..testing.issuer import KeyFile
from ..testing.issuer import _put_claim
from ..testing.issuer import b64url
from .app import cli
from .app import guarded_app

__all__ = ["DEV_CLIENT_ID", "KEY_FILE", "dev_issuer_file"]

#: The development issuer's key file, in the app's instance folder.
KEY_FILE = "claimguard-dev-issuer.json"
#: ``azp`` of minted tokens (and ``aud`` of ``--id-token`` ones) when the app names no
#: allowed client of its own.
DEV_CLIENT_ID = "claimguard-dev-client"
DEFAULT_SUBJECT = "dev|minted"
_NOT_HERE = "no development issuer here: mint only works against the issuer `make demo` starts"


def dev_issuer_file(app: Flask) -> Path:
    """Where the development issuer's key file of ``app`` is: its instance folder."""
    return Path(app.instance_path) / KEY_FILE


def _read_key_file(path: Path) -> KeyFile:
    """The key file at ``path``, or a one-line refusal."""
    try:
        return KeyFile.read(path)
    except FileNotFoundError:
        raise click.ClickException(f"{_NOT_HERE} (there is no {path})") from None
    except (OSError, ValueError) as exc:
        # Not owner-only, another user's, unreadable or not a key file: never used.
        raise click.ClickException(f"{_NOT_HERE}: {exc}") from None


def _check_development_issuer(record: KeyFile, state: AppState, path: Path) -> None:
    """Refuse unless the key file's issuer is on loopback and the app trusts it."""
    if not is_loopback_url(record.issuer):
        raise click.ClickException(
            f"{_NOT_HERE}: the issuer in {path} ({record.issuer}) is not on loopback"
        )
    trusted = sorted(state.validator.issuers)
    if record.issuer not in state.validator.issuers:
        raise click.ClickException(
            f"{_NOT_HERE}: this app does not trust the issuer in {path} ({record.issuer}); "
            f"it trusts {', '.join(trusted)}. Run it with the settings `make demo` prints"
        )


def _at_hash() -> str:
    """An ``at_hash`` as an ID token carries it (OIDC Core §3.1.3.6): the left half of
    the SHA-256 of its access token, here a random one."""
    digest = hashlib.sha256(secrets.token_urlsafe(32).encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def _times(state: AppState, expires_in: int, expired: bool) -> tuple[int, int]:
    """``iat`` and ``exp`` (RFC 7519 §4.1.4, §4.1.6): from now, or, for ``expired``,
    ending a minute before the app's leeway would still accept it."""
    now = int(time.time())
    if not expired:
        return now, now + expires_in
    exp = now - int(state.validator.leeway) - 60
    return exp - expires_in, exp


def _claims(
    record: KeyFile,
    state: AppState,
    *,
    roles: list[str] | None,
    scopes: tuple[str, ...],
    permissions: tuple[str, ...],
    sub: str,
    audience: str | None,
    expires_in: int,
    expired: bool,
    id_token: bool,
) -> dict[str, Any]:
    settings = state.settings
    client = settings.allowed_clients[0] if settings.allowed_clients else DEV_CLIENT_ID
    iat, exp = _times(state, expires_in, expired)
    payload: dict[str, Any] = {
        "iss": record.issuer,
        "sub": sub,
        "aud": audience or settings.audiences[0],
        "azp": client,
        "iat": iat,
        "exp": exp,
    }
    if id_token:
        # An ID token is for the client that asked for it (OIDC Core §2): aud is the
        # client id, and nonce and at_hash are there. An API must never accept one.
        payload.update(aud=audience or client, nonce=secrets.token_urlsafe(12), at_hash=_at_hash())
    if roles is not None:
        if not settings.roles_claims:
            raise click.ClickException("this app reads no roles claim: --role has nowhere to go")
        _put_claim(payload, settings.roles_claims[0], roles)
    if scopes:
        payload[settings.scope_claim] = " ".join(" ".join(scopes).split())
    if permissions:
        payload[settings.permissions_claim] = list(permissions)
    return payload


@cli.command("mint")
@click.option("--role", "roles", multiple=True, metavar="NAME", help="A role; repeatable.")
@click.option("--no-roles", is_flag=True, help="Leave the roles claim out altogether.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE", help="A scope; repeatable.")
@click.option(
    "--permission", "permissions", multiple=True, metavar="NAME", help="A permission; repeatable."
)
@click.option("--sub", default=DEFAULT_SUBJECT, show_default=True, help="The subject (user id).")
@click.option(
    "--expires-in",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Lifetime of the token.",
)
@click.option("--expired", is_flag=True, help="A token whose exp is already past (401).")
@click.option(
    "--audience", metavar="AUD", help="Another audience than the app's own (the app refuses it)."
)
@click.option(
    "--id-token", is_flag=True, help="An ID-token-like token: aud a client id, nonce, at_hash."
)
@click.option("--json", "as_json", is_flag=True, help="Print the token with its decoded claims.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The development issuer's key file [default: {KEY_FILE} in the instance folder].",
)
def mint_command(
    roles: tuple[str, ...],
    no_roles: bool,
    scopes: tuple[str, ...],
    permissions: tuple[str, ...],
    sub: str,
    expires_in: int,
    expired: bool,
    audience: str | None,
    id_token: bool,
    as_json: bool,
    key_file: Path | None,
) -> None:
    """Mint a token from the development issuer `make demo` runs (never a real one).

    Prints just the token, for TOKEN=$(flask ... claimguard mint --role admin).
    """
    if roles and no_roles:
        raise click.UsageError("--role and --no-roles contradict each other")
    app, state = guarded_app()
    path = key_file or dev_issuer_file(app)
    record = _read_key_file(path)
    _check_development_issuer(record, state, path)
    key = record.signing_key
    # RFC 9068 §2.1: an app that insists on typed access tokens gets "at+jwt".
    typ = "at+jwt" if state.settings.strict_typ else "JWT"
    header = {"alg": key.algorithm, "typ": typ, "kid": key.kid}
    payload = _claims(
        record,
        state,
        roles=None if no_roles else list(roles),
        scopes=scopes,
        permissions=permissions,
        sub=sub,
        audience=audience,
        expires_in=expires_in,
        expired=expired,
        id_token=id_token,
    )
    token = key.sign(header, payload)
    if as_json:
        click.echo(json.dumps({"token": token, "header": header, "claims": payload}, indent=2))
    else:
        click.echo(token)
