"""``make demo-web``: the local tenant, example_api and the Next.js app, on loopback.

One launcher for the demo and the browser tests (``tests/web/``)::

    python -m example_web.launch          # what `make demo-web` runs

starts, on 127.0.0.1 / localhost only:

1. the local stand-in for the Auth0 tenant (``tenant/server.mjs``, oidc-provider): a
   DEVELOPMENT issuer with demo users and passwords, never for production;
2. example_api under gunicorn, pointed at that issuer through OpenID Connect discovery
   (``CLAIMGUARD_ISSUER`` only, no JWKS URL);
3. the Next.js production server (``next start``) with @auth0/nextjs-auth0 pointed at the
   tenant and the API.

``EXAMPLE_WEB_DPOP=1 make demo-web`` turns DPoP (RFC 9449) on end to end: the web app
gets ``EXAMPLE_WEB_DPOP=1`` and a fresh ES256 key pair (``AUTH0_DPOP_PUBLIC_KEY``,
``AUTH0_DPOP_PRIVATE_KEY``), so the tenant binds its tokens to that key (``cnf.jkt``)
and the app calls the API with ``Authorization: DPoP`` and a proof per call; example_api
runs with ``CLAIMGUARD_DPOP_MODE=required``, server nonces required
(``CLAIMGUARD_DPOP_NONCE_SECRET``, ``CLAIMGUARD_DPOP_REQUIRE_NONCE``) and
``CLAIMGUARD_PUBLIC_URL`` set to the URL the app calls it by (a proof's ``htu``).
Unset or ``0``: Bearer tokens, exactly as without the switch.

Before that it installs what it needs: ``npm ci`` when ``package-lock.json`` changed
since the last install, ``next build`` when a source file changed since the last build
(both remembered by a stamp holding a hash of their inputs). Each service runs in its own
process group and writes to its own log file; stopping kills each group (TERM, then KILL
after a deadline), so nothing outlives the launcher. Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from types import FrameType
from typing import IO
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # `python example_web/launch.py` as well as `-m`
    sys.path.insert(0, str(REPO))

from example_api.server import gunicorn_command  # noqa: E402

AUDIENCE = "https://products.example.com"
ROLES_CLAIM = "https://my-app.example.com/roles"
CLIENT_ID = "claimguard-example-web"
ACTION_FILE = HERE / "auth0" / "post-login-action.js"
USERS_FILE = HERE / "tenant" / "users.json"
TENANT_SCRIPT = HERE / "tenant" / "server.mjs"
NEXT_BIN = HERE / "node_modules" / "next" / "dist" / "bin" / "next"
INSTALL_STAMP = HERE / "node_modules" / ".claimguard-install-hash"
BUILD_STAMP = HERE / ".next" / ".claimguard-build-hash"
#: Outside node_modules, which `npm ci` deletes while the lock is held.
LOCK_FILE = Path(tempfile.gettempdir()) / (
    "claimguard-example-web-" + hashlib.sha256(str(HERE).encode()).hexdigest()[:12] + ".lock"
)
#: What `next build` reads: a change to any of these means a new build.
BUILD_INPUTS = (
    "app",
    "lib",
    "middleware.ts",
    "next.config.ts",
    "tsconfig.json",
    "package.json",
    "package-lock.json",
)
INSTALL_TIMEOUT = 600.0
BUILD_TIMEOUT = 900.0
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
DEMO_PORTS = {"web": 3000, "tenant": 4000, "api": 8000}
PORT_VARIABLES = {
    "web": "EXAMPLE_WEB_PORT",
    "tenant": "EXAMPLE_WEB_TENANT_PORT",
    "api": "EXAMPLE_API_PORT",
}
BANNER = "=" * 78
DPOP_LINE = {
    False: "off (Bearer tokens; EXAMPLE_WEB_DPOP=1 make demo-web turns it on)",
    True: "on: DPoP-bound tokens, the API requires DPoP proofs with its nonces",
}

log = logging.getLogger("example_web.launch")


class LaunchError(RuntimeError):
    """A service could not be installed, built or started; the message says why."""


def dpop_switch(environ: dict[str, str] | None = None) -> bool:
    """``EXAMPLE_WEB_DPOP``: ``1`` on, unset or ``0`` off, anything else an error."""
    value = (os.environ if environ is None else environ).get("EXAMPLE_WEB_DPOP", "").strip()
    if value in ("", "0"):
        return False
    if value != "1":
        raise LaunchError(f"EXAMPLE_WEB_DPOP must be 1, 0 or unset, got {value[:20]!r}")
    return True


def dpop_key_pair() -> tuple[str, str]:
    """A fresh ES256 (P-256) key pair for the web app's DPoP proofs: public key PEM
    (SPKI), private key PEM (PKCS #8), the forms the SDK's variables take."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return public.decode("ascii"), private.decode("ascii")


def missing_tools() -> list[str]:
    """The command-line tools this example needs and this machine lacks."""
    return [tool for tool in ("node", "npm") if shutil.which(tool) is None]


def users() -> dict[str, dict[str, Any]]:
    """The demo users: name -> {password, roles, name, email}."""
    loaded: dict[str, dict[str, Any]] = json.loads(USERS_FILE.read_text("utf-8"))
    return loaded


def node_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every node process gets: no telemetry, no proxy for loopback."""
    env = dict(os.environ)
    env.update(
        {
            "NEXT_TELEMETRY_DISABLED": "1",
            "NO_COLOR": "1",  # plain log files
            "NO_PROXY": "localhost,127.0.0.1,::1",
            "no_proxy": "localhost,127.0.0.1,::1",
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        }
    )
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------------------
# Install and build, each only when its inputs changed.


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(HERE)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_hash() -> str:
    """A hash of every file ``next build`` depends on (sources, config, lock file)."""
    files: list[Path] = []
    for name in BUILD_INPUTS:
        path = HERE / name
        if path.is_dir():
            files.extend(item for item in path.rglob("*") if item.is_file())
        elif path.is_file():
            files.append(path)
    return _hash_files(files)


def _stamp_matches(stamp: Path, expected: str) -> bool:
    try:
        return stamp.read_text().strip() == expected
    except OSError:
        return False


def _run_logged(command: list[str], log_dir: Path, name: str, timeout: float) -> None:
    """Run a one-off command (npm ci, next build) in its own process group, logged to
    a file, within ``timeout``; on any way out its whole group is gone."""
    service = _spawn(name, command, HERE, node_environment(), log_dir)
    try:
        code = service.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LaunchError(
            f"{name} took over {timeout:.0f} s; see {service.log_path}:\n{service.tail()}"
        ) from None
    finally:
        service.stop()
    if code != 0:
        raise LaunchError(f"{name} failed (exit {code}); see {service.log_path}:\n{service.tail()}")


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One install/build at a time, whoever asks (a demo and a test run, say)."""
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(log_dir: Path, say: Callable[[str], None] = log.info) -> dict[str, float]:
    """``npm ci`` and ``next build`` when needed; how long each took (0 when skipped)."""
    missing = missing_tools()
    if missing:
        raise LaunchError(f"example_web needs {' and '.join(missing)} (Node.js 20 or later)")
    log_dir.mkdir(parents=True, exist_ok=True)
    timings = {"npm_ci": 0.0, "next_build": 0.0}
    with _build_lock():
        lock_hash = _hash_files([HERE / "package.json", HERE / "package-lock.json"])
        if not _stamp_matches(INSTALL_STAMP, lock_hash) or not NEXT_BIN.is_file():
            say("Installing example_web's packages (npm ci)…")
            started = time.monotonic()
            _run_logged(
                ["npm", "ci", "--no-audit", "--no-fund"], log_dir, "npm-ci", INSTALL_TIMEOUT
            )
            INSTALL_STAMP.write_text(lock_hash)
            timings["npm_ci"] = time.monotonic() - started
        sources = build_hash()
        if not _stamp_matches(BUILD_STAMP, sources):
            say("Building the Next.js app (next build)…")
            started = time.monotonic()
            BUILD_STAMP.unlink(missing_ok=True)
            _run_logged(["node", str(NEXT_BIN), "build"], log_dir, "next-build", BUILD_TIMEOUT)
            BUILD_STAMP.write_text(sources)
            timings["next_build"] = time.monotonic() - started
    return timings


# --------------------------------------------------------------------------------------
# Services.


def _tail(path: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_bytes()[-size:].decode(errors="replace")
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers themselves do: a port whose last connections are still in
        # TIME_WAIT (a demo just stopped) can be listened on again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Service:
    """One child process, leader of its own process group, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """TERM to the whole group, KILL after ``timeout``: no child survives."""
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0f s: killing it", self.name, timeout)
        # Whatever is left in the group (workers, helpers), leader gone or not.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def tail(self) -> str:
        return _tail(self.log_path)


def _spawn(name: str, command: list[str], cwd: Path, env: dict[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    # A file, never a pipe: a pipe nobody reads fills up and blocks the child, and a
    # child writing to a pipe can outlive a killed reader and spin.
    with open(log_path, "ab") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed commands, no shell
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process, log_path)


def _wait_ready(service: Service, url: str, deadline: float, ok: Callable[[int], bool]) -> None:
    while time.monotonic() < deadline:
        if not service.running():
            raise LaunchError(f"{service.name} exited while starting:\n{service.tail()}")
        try:
            status = requests.get(url, timeout=2, allow_redirects=False).status_code
            if ok(status):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise LaunchError(f"{service.name} did not answer at {url} in time:\n{service.tail()}")


def seed_products(database: Path) -> None:
    """Two products, so that a viewer has something to list (only into an empty file)."""
    from example_api import storage

    store = storage.open_store(str(database))
    try:
        store.initialise()
        _, total = store.list(1, 0)
        if total == 0:
            store.create(
                {"name": "Espresso cup", "price": 6.5, "description": "seeded", "stock": 12}
            )
            store.create({"name": "Tea pot", "price": 24.0, "description": "seeded", "stock": 3})
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


@dataclass
class Stack:
    """The three services; ``web_url`` is what a person opens."""

    run_dir: Path
    web_url: str
    tenant_url: str
    api_url: str
    web_api_url: str
    services: list[Service] = field(default_factory=list)
    #: Whether DPoP is on (``start(dpop=True)``).
    dpop: bool = False

    @property
    def issuer(self) -> str:
        return f"{self.tenant_url}/"

    def check_running(self) -> None:
        for service in self.services:
            if not service.running():
                raise LaunchError(f"{service.name} stopped:\n{service.tail()}")

    def stop(self) -> None:
        """Stop the web app first, the tenant last; each within its deadline."""
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start(
    run_dir: Path,
    *,
    ports: dict[str, int] | None = None,
    web_api_url: Callable[[str], str] | None = None,
    database: Path | None = None,
    access_token_ttl: int = 3600,
    api_workers: int = 2,
    dpop: bool = False,
) -> Stack:
    """Start tenant, example_api and ``next start``; a :class:`Stack` to stop them.

    ``web_api_url`` maps example_api's URL to the one the Next.js server is given as
    ``EXAMPLE_API_URL`` (the tests put a recording proxy in between). ``dpop`` turns
    DPoP on (see the module's docstring): example_api then requires DPoP and nonces,
    with ``CLAIMGUARD_PUBLIC_URL`` set to that URL. Call :func:`prepare` first.
    """
    chosen = {name: (ports or {}).get(name) or free_port() for name in ("web", "tenant", "api")}
    log_dir = run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    # `localhost`, not 127.0.0.1: Next.js writes 127.0.0.1 as localhost in the URLs it
    # builds (the SDK's redirects among them), and cookies are per host name.
    web_url = f"http://localhost:{chosen['web']}"
    # The SDK accepts a plain-HTTP tenant only by name (`localhost`, never an IP literal).
    tenant_url = f"http://localhost:{chosen['tenant']}"
    api_url = f"http://127.0.0.1:{chosen['api']}"
    client_secret = secrets.token_hex(24)
    database = database or run_dir / "products.sqlite3"
    seed_products(database)

    stack = Stack(run_dir, web_url, tenant_url, api_url, web_api_url="", dpop=dpop)
    try:
        tenant = _spawn(
            "tenant",
            ["node", str(TENANT_SCRIPT)],
            HERE,
            node_environment(
                {
                    "TENANT_PORT": str(chosen["tenant"]),
                    "APP_BASE_URL": web_url,
                    "AUTH0_CLIENT_ID": CLIENT_ID,
                    "AUTH0_CLIENT_SECRET": client_secret,
                    "AUTH0_AUDIENCE": AUDIENCE,
                    "ACCESS_TOKEN_TTL": str(access_token_ttl),
                }
            ),
            log_dir,
        )
        stack.services.append(tenant)
        deadline = time.monotonic() + START_TIMEOUT
        _wait_ready(
            tenant,
            f"http://127.0.0.1:{chosen['tenant']}/.well-known/openid-configuration",
            deadline,
            lambda status: status == 200,
        )

        # Known before the API starts: with DPoP it is the API's public URL (a proof's
        # htu names the URL the app calls, proxy or not).
        stack.web_api_url = web_api_url(api_url) if web_api_url else api_url
        api_env = dict(os.environ)
        api_env.pop("CLAIMGUARD_DOMAIN", None)
        api_env.pop("CLAIMGUARD_JWKS_URL", None)
        api_env.pop("EXAMPLE_API_ACCESS_LOG", None)
        api_env.update(
            {
                # Discovery only: claimguard reads jwks_uri from the issuer's metadata.
                "CLAIMGUARD_ISSUER": stack.issuer,
                "CLAIMGUARD_AUDIENCE": AUDIENCE,
                "CLAIMGUARD_ROLES_CLAIM": ROLES_CLAIM,
                "EXAMPLE_API_DATABASE": str(database),
                "EXAMPLE_API_BIND": f"127.0.0.1:{chosen['api']}",
                "EXAMPLE_API_WORKERS": str(api_workers),
                "EXAMPLE_API_THREADS": "4",
                "EXAMPLE_API_WARM_UP": "1",
                "NO_PROXY": "localhost,127.0.0.1,::1",
                "no_proxy": "localhost,127.0.0.1,::1",
            }
        )
        if dpop:
            api_env.update(
                {
                    "CLAIMGUARD_DPOP_MODE": "required",
                    "CLAIMGUARD_DPOP_NONCE_SECRET": secrets.token_hex(32),
                    "CLAIMGUARD_DPOP_REQUIRE_NONCE": "1",
                    "CLAIMGUARD_PUBLIC_URL": stack.web_api_url.rstrip("/"),
                }
            )
        api = _spawn("api", gunicorn_command(), REPO, api_env, log_dir)
        stack.services.append(api)
        _wait_ready(api, f"{api_url}/health", deadline, lambda status: status == 200)

        web_dpop = {"EXAMPLE_WEB_DPOP": "0"}
        if dpop:
            public_key, private_key = dpop_key_pair()
            web_dpop = {
                "EXAMPLE_WEB_DPOP": "1",
                "AUTH0_DPOP_PUBLIC_KEY": public_key,
                "AUTH0_DPOP_PRIVATE_KEY": private_key,
            }
        web = _spawn(
            "web",
            [
                "node",
                str(NEXT_BIN),
                "start",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(chosen["web"]),
            ],
            HERE,
            node_environment(
                {
                    "NODE_ENV": "production",
                    "APP_BASE_URL": web_url,
                    "AUTH0_DOMAIN": tenant_url,
                    "AUTH0_CLIENT_ID": CLIENT_ID,
                    "AUTH0_CLIENT_SECRET": client_secret,
                    "AUTH0_SECRET": secrets.token_hex(32),
                    "AUTH0_AUDIENCE": AUDIENCE,
                    # The tenant speaks plain HTTP on localhost: development only.
                    "AUTH0_ALLOW_INSECURE_REQUESTS": "1",
                    "EXAMPLE_API_URL": stack.web_api_url,
                    **web_dpop,
                }
            ),
            log_dir,
        )
        stack.services.append(web)
        _wait_ready(web, f"http://127.0.0.1:{chosen['web']}/", deadline, lambda s: s == 200)
    except BaseException:
        stack.stop()
        raise
    return stack


# --------------------------------------------------------------------------------------
# `make demo-web`


def _demo_ports() -> dict[str, int]:
    ports = {}
    for name, default in DEMO_PORTS.items():
        variable = PORT_VARIABLES[name]
        port = int(os.environ.get(variable, default))
        if not _port_is_free(port):
            raise LaunchError(f"port {port} is taken: set {variable} to another port")
        ports[name] = port
    return ports


def _print_banner(stack: Stack, out: IO[str]) -> None:
    print(BANNER, file=out)
    print("!! The tenant below is a DEVELOPMENT stand-in for Auth0: local demos only. !!", file=out)
    print(BANNER, file=out)
    print(f"Open {stack.web_url}/ and sign in as one of:\n", file=out)
    print(f"  {'login':<8} {'password':<18} roles", file=out)
    for name, user in users().items():
        roles = ", ".join(user["roles"]) or "(none: every call is refused with 403)"
        print(f"  {name:<8} {user['password']:<18} {roles}", file=out)
    print(
        f"""
  tenant (issuer)  {stack.issuer}
  products API     {stack.api_url}   (CLAIMGUARD_ISSUER={stack.issuer})
  DPoP             {DPOP_LINE[stack.dpop]}
  logs             {stack.run_dir / "logs"}

viewer lists; editor also creates and edits; admin also deletes. Every button is shown
to everyone: try one your role lacks to see the API's 403 relayed.
Press Ctrl-C to stop all three.""",
        file=out,
    )
    print(BANNER, file=out)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_dir = Path(os.environ.get("EXAMPLE_WEB_RUN_DIR", REPO / "instance" / "example_web"))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell that starts the demo in the background ignores Ctrl-C for
    # it, and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stack: Stack | None = None
    try:
        ports = _demo_ports()
        dpop = dpop_switch()
        prepare(run_dir / "logs", say=print)
        stack = start(run_dir, ports=ports, database=run_dir / "products.sqlite3", dpop=dpop)
        _print_banner(stack, sys.stdout)
        sys.stdout.flush()
        while True:
            stack.check_running()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping the web app, the API and the tenant…")
        return 0
    except LaunchError as error:
        print(f"example_web: {error}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if stack is not None:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
