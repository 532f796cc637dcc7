"""``make demo``: the products API behind a development issuer, with tokens to paste.

Starts, on 127.0.0.1 only:

1. a DEVELOPMENT issuer (claimguard's ForgedIssuer: discovery and JWKS over plain
   HTTP) — unless an issuer is configured in the environment (``CLAIMGUARD_ISSUER`` or
   ``CLAIMGUARD_DOMAIN``), in which case it is never used;
2. the API under gunicorn, pointed at that issuer;

then prints ``curl`` commands with a token for ``viewer``, ``editor`` and ``admin`` and
what each should answer, and how to mint more with ``flask claimguard mint``. The API
logs why it refuses a request (claimguard's ``refused …`` lines,
``EXAMPLE_API_LOG_LEVEL=INFO`` unless set otherwise) into the same output. Ctrl-C stops
everything it started.

The development issuer outlives a restart: its keys, URL, audience and roles claim are
kept in ``instance/claimguard-dev-issuer.json`` (owner-only; ``EXAMPLE_API_DEV_ISSUER_FILE``
puts it elsewhere), and the next run serves the same keys on the same port, so tokens
minted before still work. If that port is taken by then, the issuer moves to a free one
(and says so): tokens naming the old URL are refused from then on.

``flask claimguard mint`` reads that same file. The app it loads needs the issuer's
settings, and the demo prints them in front of the command rather than have
``create_app`` find a development issuer on its own: the API never trusts an issuer
that its environment does not name.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import requests

from claimguard.cli.mint import KEY_FILE
from example_api.server import ROOT
from example_api.server import gunicorn_command

AUDIENCE = "https://products.example.com"
ROLES_CLAIM = "https://my-app.example.com/roles"
TOKEN_LIFETIME = 8 * 3600
BANNER = "=" * 78
REFUSALS_NOTE = (
    "Why the API refuses a request appears below as claimguard's log lines:\n"
    '  [...] [pid] [INFO] claimguard: refused GET "/products": 401 ...'
)

log = logging.getLogger("example_api.demo")

if TYPE_CHECKING:
    from claimguard.testing import ForgedIssuer


def _key_file() -> Path:
    """Where the development issuer's keys are kept: the app's instance folder."""
    configured = os.environ.get("EXAMPLE_API_DEV_ISSUER_FILE", "").strip()
    return Path(configured) if configured else ROOT / "instance" / KEY_FILE


def _development_issuer(key_file: Path, audience: str) -> ForgedIssuer:
    """The issuer kept in ``key_file``, serving again on its port; a new one (saved
    there) when there is no such file.

    :raises PermissionError, ValueError: the file is not owner-only, or not a key file.
    """
    from claimguard.testing import ForgedIssuer

    if not key_file.exists():
        issuer = ForgedIssuer(audience=audience, roles_claim=ROLES_CLAIM)
        issuer.save(key_file)
        return issuer
    try:
        issuer = ForgedIssuer.load(key_file)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        issuer = ForgedIssuer.load(key_file, port=0)
        log.warning(
            "the development issuer's port is taken (%s): it moved to %s, so tokens "
            "minted before this run no longer validate",
            exc,
            issuer.issuer,
        )
        issuer.save(key_file)
    if issuer.audience != audience:  # CLAIMGUARD_AUDIENCE changed since the last run
        issuer.audience = audience
        issuer.save(key_file)
    return issuer


def _mint_command(issuer: ForgedIssuer, key_file: Path, options: str) -> str:
    """The ``flask claimguard mint`` command line to paste, from the repository root:
    the API's issuer settings, then the command."""
    settings = [
        f"{name}={shlex.quote(_environment_value(value))}"
        for name, value in issuer.config().items()
    ]
    flask = Path(sys.executable).with_name("flask")
    if flask.is_relative_to(ROOT):
        flask = flask.relative_to(ROOT)
    if key_file != ROOT / "instance" / KEY_FILE:
        options += f" --key-file {shlex.quote(str(key_file))}"
    command = f"{flask} --app example_api:create_app claimguard mint {options}"
    return " \\\n    ".join([*settings, command])


def _environment_value(value: object) -> str:
    """A setting as the environment string example_api reads (lists comma-separated)."""
    return ",".join(value) if isinstance(value, list) else str(value)


def _start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **env, "EXAMPLE_API_BIND": f"127.0.0.1:{port}"}
    return subprocess.Popen(gunicorn_command(), cwd=ROOT, env=env)  # noqa: S603


def _wait_ready(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(f"{base}/health", timeout=1).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return False


def _seed_product(base: str, admin_token: str) -> tuple[int, str]:
    """Create one product for the printed commands to change and delete; its id and
    its ETag (for the conditional change)."""
    response = requests.post(
        f"{base}/products",
        json={"name": "Demo mug", "price": 9.5, "description": "made by make demo", "stock": 5},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    response.raise_for_status()
    product_id: int = response.json()["id"]
    return product_id, response.headers["ETag"]


def _print_requests(
    base: str, tokens: dict[str, str], product_id: int, etag: str, mint: tuple[str, str]
) -> None:
    print(BANNER)
    print("The products API is running at", base)
    print("Paste these into another terminal (tokens valid for 8 hours):\n")
    for role, token in tokens.items():
        print(f"export {role.upper()}_TOKEN='{token}'")
    print(
        f"""
# Anyone: liveness                                          -> 200
curl -s {base}/health

# No token                                                  -> 401, WWW-Authenticate: Bearer
curl -si {base}/products

# Who am I (any valid token)                                -> 200 sub, roles, scopes
curl -s -H "Authorization: Bearer $VIEWER_TOKEN" {base}/me

# viewer can read                                           -> 200
curl -s -H "Authorization: Bearer $VIEWER_TOKEN" {base}/products

# viewer cannot create                                      -> 403 insufficient_scope
curl -si -X POST -H "Authorization: Bearer $VIEWER_TOKEN" \\
     -H 'Content-Type: application/json' -d '{{"name": "Mug", "price": 9.5}}' {base}/products

# editor can create                                         -> 201 + Location
curl -si -X POST -H "Authorization: Bearer $EDITOR_TOKEN" \\
     -H 'Content-Type: application/json' -d '{{"name": "Mug", "price": 9.5}}' {base}/products

# editor sends an invalid body                              -> 400 invalid_body + fields
curl -s -X POST -H "Authorization: Bearer $EDITOR_TOKEN" \\
     -H 'Content-Type: application/json' -d '{{"name": "", "price": -1}}' {base}/products

# viewer reads the product the demo created                 -> 200, ETag: {etag}
curl -si -H "Authorization: Bearer $VIEWER_TOKEN" {base}/products/{product_id}

# editor changes it if unchanged since that read (If-Match) -> 200 and a new ETag
curl -si -X PATCH -H "Authorization: Bearer $EDITOR_TOKEN" -H 'If-Match: {etag}' \\
     -H 'Content-Type: application/json' -d '{{"stock": 3}}' {base}/products/{product_id}

# the same change again: that ETag is stale now             -> 412 precondition_failed
curl -s -X PATCH -H "Authorization: Bearer $EDITOR_TOKEN" -H 'If-Match: {etag}' \\
     -H 'Content-Type: application/json' -d '{{"stock": 3}}' {base}/products/{product_id}

# editor cannot delete                                      -> 403
curl -si -X DELETE -H "Authorization: Bearer $EDITOR_TOKEN" {base}/products/{product_id}

# admin can delete                                          -> 204
curl -si -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" {base}/products/{product_id}

# A tampered token                                          -> 401 invalid_token
curl -si -H "Authorization: Bearer ${{VIEWER_TOKEN}}x" {base}/products

# Mint your own token with `flask claimguard mint` (--role, --scope, --expired, --json…)
MINTED_TOKEN=$({mint[0]})
curl -s -H "Authorization: Bearer $MINTED_TOKEN" {base}/products   # -> 200

# An expired token (mint --expired)                         -> 401, "The access token expired."
EXPIRED_TOKEN=$({mint[1]})
curl -si -H "Authorization: Bearer $EXPIRED_TOKEN" {base}/products
"""
    )
    print(REFUSALS_NOTE)
    print("Press Ctrl-C to stop the API and the development issuer.")
    print(BANNER)


def main() -> int:
    # Line by line, also into a pipe (``make demo | tee``): the commands and the
    # refusal lines appear as they happen, not when a buffer fills.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    port = int(os.environ.get("EXAMPLE_API_PORT", "8000"))
    base = f"http://127.0.0.1:{port}"
    database = os.environ.get("EXAMPLE_API_DATABASE", str(ROOT / "instance" / "demo.sqlite3"))
    configured = os.environ.get("CLAIMGUARD_ISSUER") or os.environ.get("CLAIMGUARD_DOMAIN")
    issuer = None
    key_file = _key_file()
    env = {
        "EXAMPLE_API_DATABASE": database,
        # The workers log claimguard's refusals, with their reasons, into this output.
        "EXAMPLE_API_LOG_LEVEL": os.environ.get("EXAMPLE_API_LOG_LEVEL") or "INFO",
    }
    if configured:
        print(f"An issuer is configured ({configured}): the development issuer is NOT started.")
        print("Get tokens from that issuer (e.g. your Auth0 tenant) to call the API.")
    else:
        try:
            issuer = _development_issuer(
                key_file, os.environ.get("CLAIMGUARD_AUDIENCE") or AUDIENCE
            )
        except (PermissionError, ValueError) as exc:
            print(f"The development issuer's key file cannot be used: {exc}")
            return 1
        print(BANNER)
        print("!! DEVELOPMENT ISSUER — FOR LOCAL DEMOS ONLY, NEVER FOR PRODUCTION !!")
        print(f"!! {issuer.issuer} signs any token it is asked to; its private keys")
        print(f"!! are kept (owner-only) in {key_file}: delete the file for new ones.")
        print(BANNER)
        log.warning("DEVELOPMENT ISSUER running at %s: not for production", issuer.issuer)
        env.update({key: _environment_value(value) for key, value in issuer.config().items()})

    process = _start_api(env, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts the demo in the background ignores Ctrl-C for it,
    # and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if not _wait_ready(base, process):
            print(f"The API did not start on {base} (is the port taken? set EXAMPLE_API_PORT).")
            return 1
        if issuer is not None:
            tokens = {
                role: issuer.mint(roles=[role], expires_in=TOKEN_LIFETIME, sub=f"demo|{role}")
                for role in ("viewer", "editor", "admin")
            }
            mint = (
                _mint_command(issuer, key_file, "--role admin"),
                _mint_command(issuer, key_file, "--role admin --expired"),
            )
            _print_requests(base, tokens, *_seed_product(base, tokens["admin"]), mint)
        else:
            print(REFUSALS_NOTE)
            print(f"The products API is running at {base}. Press Ctrl-C to stop it.")
        return process.wait()
    except KeyboardInterrupt:
        print("\nStopping the API and the development issuer…")
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if issuer is not None:
            issuer.close()


if __name__ == "__main__":
    sys.exit(main())
