"""``ForgedIssuer``: a real token issuer on 127.0.0.1, for tests.

It generates signing keys, serves OpenID Connect discovery and a JWKS over HTTP on a
loopback port, and mints signed access tokens shaped like Auth0's. Tests then run the
real key path: discovery, JWKS fetch, caching, rotation and outages.

It can also outlive a process: :meth:`ForgedIssuer.save` writes its keys, issuer URL,
audience and roles claim to a key file (owner-only, see :class:`KeyFile`), and
:meth:`ForgedIssuer.load` serves them again on the same port, so tokens minted before a
restart still validate after it. ``make demo`` keeps its development issuer that way.

.. warning:: development and tests only. Its keys live in memory (or in that key file)
   and anyone who can reach the port can read the public half; it is not an
   authorization server.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import MutableMapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa

from ..jwks import JWKSCache
from ..keys import SUPPORTED_ALGORITHMS
from ..keys import algorithm as algorithm_object
from ..validation import TokenValidator

if TYPE_CHECKING:
    from .dpop import DPoPKey

__all__ = ["ForgedIssuer", "ForgedKey", "KeyFile"]

DEFAULT_AUDIENCE = "https://api.example.test"
DEFAULT_ROLES_CLAIM = "https://my-app.example.com/roles"
DEFAULT_SUBJECT = "auth0|forged-user"

#: What a key file says about itself, first thing, to whoever opens it.
KEY_FILE_WARNING = (
    "DEVELOPMENT ONLY: the private signing keys of a local test issuer (claimguard's "
    "ForgedIssuer). Anyone holding them can mint any token this issuer's apps accept: "
    "never copy them elsewhere, and never trust this issuer in production."
)
#: The ``format`` member of a key file: its layout, versioned.
KEY_FILE_FORMAT = "claimguard.forged-issuer/1"
#: Permission bits a key file may not have: any access for the group or others.
_NOT_OWNER_ONLY = 0o077

#: Where ``app.extensions`` records that claimguard is set up on an app.
_EXTENSION_KEY = "claimguard"


class _HasConfig(Protocol):
    """What :meth:`ForgedIssuer.build_app` reads of the app a factory built."""

    @property
    def config(self) -> Mapping[str, Any]: ...


_App = TypeVar("_App", bound=_HasConfig)

_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class ForgedKey:
    """A signing key of the forged issuer: its ``kid``, algorithm and key objects."""

    kid: str
    algorithm: str
    private_key: Any

    @property
    def public_key(self) -> Any:
        """The public half of the key (a ``cryptography`` public key object)."""
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK as an issuer publishes it (``kid``, ``use``, ``alg``)."""
        jwk: dict[str, Any] = algorithm_object(self.algorithm).to_jwk(self.public_key, as_dict=True)
        jwk.update(kid=self.kid, use="sig", alg=self.algorithm)
        return jwk

    @classmethod
    def generate(
        cls, algorithm: str = "RS256", *, kid: str | None = None, bits: int = 2048
    ) -> ForgedKey:
        """A new key for ``algorithm`` (RSA ``bits`` for RS*/PS*)."""
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"ForgedIssuer cannot sign {algorithm!r}")
        private: Any
        if algorithm.startswith(("RS", "PS")):
            private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        elif algorithm in _EC_CURVES:
            private = ec.generate_private_key(_EC_CURVES[algorithm]())
        else:
            private = ed25519.Ed25519PrivateKey.generate()
        return cls(kid or secrets.token_urlsafe(12), algorithm, private)

    def sign(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        """A compact JWS (RFC 7515 §7.1) of ``header`` and ``payload``, signed by this key
        under its algorithm. The header is taken as given: set ``alg`` and ``kid``."""
        return _compact_jws(header, payload, self.private_key, self.algorithm)

    def private_pem(self) -> str:
        """The private key as unencrypted PKCS #8 PEM (RFC 5958), as a key file holds it."""
        return self.private_key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @classmethod
    def from_pem(cls, kid: str, algorithm: str, pem: str) -> ForgedKey:
        """The key :meth:`private_pem` wrote, back.

        :raises ValueError: the algorithm is not one claimguard verifies, or ``pem`` is
            not an unencrypted private key of a type that algorithm uses.
        """
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"ForgedIssuer cannot sign {algorithm!r}")
        private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        expected: type[Any] = rsa.RSAPrivateKey
        if algorithm in _EC_CURVES:
            expected = ec.EllipticCurvePrivateKey
        elif algorithm == "EdDSA":
            expected = ed25519.Ed25519PrivateKey
        if not isinstance(private, expected):
            raise ValueError(f"key {kid!r} is not a {algorithm} private key")
        return cls(kid, algorithm, private)


def _compact_jws(
    header: Mapping[str, Any] | bytes,
    payload: Mapping[str, Any] | bytes,
    private_key: Any,
    algorithm: str,
) -> str:
    """``BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`` (RFC 7515 §7.1);
    a mapping is serialised as JSON, bytes are taken as they are."""
    encoded = [
        b64url(part if isinstance(part, bytes) else json.dumps(part).encode("utf-8"))
        for part in (header, payload)
    ]
    signing_input = ".".join(encoded).encode("ascii")
    signature = algorithm_object(algorithm).sign(signing_input, private_key)
    return ".".join([*encoded, b64url(signature)])


@dataclass(frozen=True)
class KeyFile:
    """A :class:`ForgedIssuer` on disk: its issuer URL, audience, roles claim and private
    keys, so that it can stop and start again as the same issuer.

    The file is JSON, labelled for whoever opens it::

        {
          "warning": "DEVELOPMENT ONLY: ...",
          "format": "claimguard.forged-issuer/1",
          "issuer": "http://127.0.0.1:41937/",
          "audience": "https://products.example.com",
          "roles_claim": "https://my-app.example.com/roles",
          "keys": [{"kid": "...", "alg": "RS256", "private_key_pem": "-----BEGIN ..."}]
        }

    The last key signs; every key is published. The file is owner-only: :meth:`write`
    creates it with mode ``0600`` and :meth:`read` refuses one that is not.
    """

    issuer: str
    audience: str
    roles_claim: str
    keys: tuple[ForgedKey, ...]

    @property
    def signing_key(self) -> ForgedKey:
        """The key new tokens are signed with (the last one)."""
        return self.keys[-1]

    @property
    def port(self) -> int:
        """The issuer URL's port.

        :raises ValueError: the URL names no port.
        """
        port = urlsplit(self.issuer).port
        if port is None:
            raise ValueError(f"the issuer URL {self.issuer!r} names no port")
        return port

    def as_dict(self) -> dict[str, Any]:
        """The JSON document :meth:`write` stores."""
        return {
            "warning": KEY_FILE_WARNING,
            "format": KEY_FILE_FORMAT,
            "issuer": self.issuer,
            "audience": self.audience,
            "roles_claim": self.roles_claim,
            "keys": [
                {"kid": key.kid, "alg": key.algorithm, "private_key_pem": key.private_pem()}
                for key in self.keys
            ],
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the file at ``path`` (its folder is created if missing); its path.

        The keys are never readable by anyone else, not even for a moment: they go into
        a new file created with mode ``0600`` (``O_EXCL``, so never into a file or link
        someone else prepared), which then replaces ``path`` in one step.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                # The umask may only have removed bits from 0600; set exactly these.
                os.fchmod(handle.fileno(), 0o600)
                json.dump(self.as_dict(), handle, indent=2)
                handle.write("\n")
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> KeyFile:
        """The key file at ``path``, if it is still private to us.

        :raises FileNotFoundError: there is no such file.
        :raises PermissionError: it belongs to another user, or its group or others have
            any access to it: private keys others could read (or swap) are not used.
        :raises ValueError: it is not a key file :meth:`write` wrote.
        """
        with open(path, encoding="utf-8") as handle:
            _check_owner_only(path, os.fstat(handle.fileno()))
            try:
                document = json.load(handle)
            except ValueError as exc:
                raise ValueError(f"{path} is not a ForgedIssuer key file: {exc}") from None
        return cls._from_document(path, document)

    @classmethod
    def _from_document(cls, path: str | os.PathLike[str], document: object) -> KeyFile:
        def broken(what: str) -> ValueError:
            return ValueError(f"{path} is not a ForgedIssuer key file: {what}")

        if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
            raise broken(f"its format is not {KEY_FILE_FORMAT!r}")
        texts: dict[str, str] = {}
        for name in ("issuer", "audience", "roles_claim"):
            value = document.get(name)
            if not isinstance(value, str) or not value:
                raise broken(f"{name!r} is not a string")
            texts[name] = value
        entries = document.get("keys")
        if not isinstance(entries, list) or not entries:
            raise broken("it holds no keys")
        keys = []
        for entry in entries:
            if not isinstance(entry, dict) or not all(
                isinstance(entry.get(name), str) for name in ("kid", "alg", "private_key_pem")
            ):
                raise broken("a key lacks its kid, alg or private_key_pem")
            try:
                keys.append(
                    ForgedKey.from_pem(entry["kid"], entry["alg"], entry["private_key_pem"])
                )
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise broken(str(exc)) from None
        return cls(texts["issuer"], texts["audience"], texts["roles_claim"], tuple(keys))


def _check_owner_only(path: str | os.PathLike[str], status: os.stat_result) -> None:
    """Refuse a key file another user owns, or that its group or others may access."""
    if status.st_uid != os.geteuid():
        raise PermissionError(
            f"{path} belongs to another user (uid {status.st_uid}): its keys are not used"
        )
    mode = status.st_mode & 0o777
    if mode & _NOT_OWNER_ONLY:
        raise PermissionError(
            f"{path} is open to group or others (mode {mode:04o}) but holds private keys: "
            f"delete it (new keys are made) or make it owner-only with chmod 600"
        )


@dataclass
class _Override:
    status: int
    body: bytes
    headers: Mapping[str, str]
    delay: float


class ForgedIssuer:
    """An issuer for tests: keys, discovery and JWKS on loopback HTTP, and a token mint.

    ::

        with ForgedIssuer() as issuer:
            issuer.configure(app)          # before ClaimGuard(app) / guard.init_app(app)
            ClaimGuard(app)
            token = issuer.mint(roles=["admin"], scope="read:products")

    :meth:`configure` (or :meth:`build_app`, for an app factory) makes the app trust this
    issuer and makes this issuer mint for the app: its ``aud`` and roles claim become the
    app's own ``CLAIMGUARD_AUDIENCE`` and ``CLAIMGUARD_ROLES_CLAIM``.

    :param audience: the API identifier minted tokens carry as ``aud``, for an app that
        sets no ``CLAIMGUARD_AUDIENCE`` of its own.
    :param roles_claim: the claim ``mint(roles=…)`` writes, for an app that sets no
        ``CLAIMGUARD_ROLES_CLAIM`` of its own. A JSON Pointer (``"/realm_access/roles"``)
        writes nested objects.
    :param algorithm: ``"RS256"`` (default), ``"PS256"``, ``"ES256"``, ``"EdDSA"``, …
    :param trailing_slash: whether the issuer URL ends with ``/``, as Auth0's does.
    :param port: the loopback port to serve on; ``0`` (default) takes a free one. A fixed
        port keeps the issuer URL, and so ``iss``, the same from one run to the next.
    :param keys: sign with these keys (the last one) instead of a new one, e.g. a
        :class:`KeyFile`'s; ``algorithm`` is then the last key's.
    :raises OSError: ``port`` is taken.

    .. attribute:: clock_offset

       Seconds added to this issuer's clock in the ``Date`` header of its answers
       (``0`` by default): ``issuer.clock_offset = 600`` makes an issuer whose clock
       runs ten minutes ahead, for clock-skew checks. Minted tokens keep the true time.
    """

    def __init__(
        self,
        *,
        audience: str = DEFAULT_AUDIENCE,
        roles_claim: str = DEFAULT_ROLES_CLAIM,
        algorithm: str = "RS256",
        trailing_slash: bool = True,
        port: int = 0,
        keys: Sequence[ForgedKey] = (),
    ) -> None:
        self.audience = audience
        self.roles_claim = roles_claim
        self.algorithm = keys[-1].algorithm if keys else algorithm
        self._trailing_slash = trailing_slash
        self._port = port
        self._lock = threading.Lock()
        self._keys: list[ForgedKey] = list(keys) or [ForgedKey.generate(algorithm)]
        self._published: list[ForgedKey] = list(self._keys)
        self._outage = False
        self._override: _Override | None = None
        self.clock_offset = 0.0
        self.jwks_requests = 0
        self.discovery_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.start()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> ForgedIssuer:
        """Start serving on the loopback port asked for, else a free one (done by the
        constructor)."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> ForgedIssuer:
        return self

    # -- persistence ----------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this issuer's URL, audience, roles claim and signing keys to a
        :class:`KeyFile` at ``path`` (mode ``0600``), for :meth:`load`; its path.

        Keys added with :meth:`publish` only are not saved; after :meth:`load` every
        saved key is published again.
        """
        record = KeyFile(self.issuer, self.audience, self.roles_claim, tuple(self._keys))
        return record.write(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, port: int | None = None) -> ForgedIssuer:
        """The issuer :meth:`save` wrote at ``path``, serving again: same keys, audience
        and roles claim, and the same URL when its port is free, so the tokens it
        minted before still validate::

            issuer = ForgedIssuer.load(path)     # OSError if the port is taken now

        :param port: serve on this port instead of the saved one (``0``: a free one);
            the issuer URL, and so ``iss``, then changes.
        :raises FileNotFoundError, PermissionError, ValueError: see :meth:`KeyFile.read`.
        :raises OSError: the port is taken.
        """
        record = KeyFile.read(path)
        return cls(
            audience=record.audience,
            roles_claim=record.roles_claim,
            trailing_slash=record.issuer.endswith("/"),
            port=record.port if port is None else port,
            keys=record.keys,
        )

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- addresses ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, where the issuer listens (no trailing ``/``)."""
        assert self._server is not None, "the ForgedIssuer is closed"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        """The issuer URL, as ``iss`` carries it (with a trailing ``/`` by default)."""
        return self.base_url + ("/" if self._trailing_slash else "")

    @property
    def jwks_url(self) -> str:
        """The URL of the JWK Set the issuer serves."""
        return self.base_url + "/.well-known/jwks.json"

    @property
    def discovery_url(self) -> str:
        """The URL of the OpenID Connect discovery document the issuer serves."""
        return self.base_url + "/.well-known/openid-configuration"

    # -- keys -----------------------------------------------------------------------

    @property
    def current_key(self) -> ForgedKey:
        """The key new tokens are signed with."""
        return self._keys[-1]

    @property
    def kid(self) -> str:
        """The ``kid`` of the key new tokens are signed with."""
        return self.current_key.kid

    @property
    def published_keys(self) -> tuple[ForgedKey, ...]:
        """The keys the JWK Set currently publishes, oldest first."""
        return tuple(self._published)

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document currently served."""
        with self._lock:
            return {"keys": [key.public_jwk() for key in self._published]}

    def rotate(self, *, publish: bool = True) -> ForgedKey:
        """Sign with a new key from now on; the previous keys stay published.

        :param publish: publish the new key at once (``False`` simulates a key that
            signs before the JWKS shows it).
        """
        key = ForgedKey.generate(self.algorithm)
        with self._lock:
            self._keys.append(key)
            if publish:
                self._published.append(key)
        return key

    def publish(self, key: ForgedKey) -> None:
        """Publish an extra key (e.g. one made with :meth:`ForgedKey.generate`)."""
        with self._lock:
            self._published.append(key)

    def retire(self) -> None:
        """Unpublish every key but the current one."""
        with self._lock:
            self._published = [self.current_key]

    # -- failures -------------------------------------------------------------------

    @contextmanager
    def outage(self) -> Iterator[None]:
        """While inside, discovery and JWKS answer 503."""
        self._outage = True
        try:
            yield
        finally:
            self._outage = False

    @contextmanager
    def jwks_response(
        self,
        body: bytes | str | Mapping[str, Any] = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Iterator[None]:
        """While inside, the JWKS URL answers exactly this (hostile-endpoint tests).

        :param delay: seconds to wait before answering.
        """
        if isinstance(body, Mapping):
            body = json.dumps(body)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        self._override = _Override(status, raw, dict(headers or {}), delay)
        try:
            yield
        finally:
            self._override = None

    # -- tokens ---------------------------------------------------------------------

    def claims(
        self,
        *,
        roles: list[str] | None = None,
        scope: str | list[str] | None = None,
        permissions: list[str] | None = None,
        expires_in: float = 3600,
        **claims: Any,
    ) -> dict[str, Any]:
        """The payload :meth:`mint` would sign: Auth0-like defaults plus ``claims``.

        A claim given as ``None`` is left out.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": DEFAULT_SUBJECT,
            "aud": self.audience,
            "iat": now,
            "exp": int(now + expires_in),
        }
        if roles is not None:
            _put_claim(payload, self.roles_claim, list(roles))
        if scope is not None:
            payload["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        if permissions is not None:
            payload["permissions"] = list(permissions)
        payload.update(claims)
        return {name: value for name, value in payload.items() if value is not None}

    def mint(
        self,
        *,
        headers: Mapping[str, Any] | None = None,
        key: ForgedKey | None = None,
        dpop_key: DPoPKey | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token.

        :param headers: header overrides (``{"kid": …}``, ``{"typ": "at+jwt"}``; ``None``
            values remove a member).
        :param key: sign with this key instead of the current one.
        :param dpop_key: bind the token to this client key (RFC 9449 §6.1): the token
            carries ``cnf: {"jkt": dpop_key.thumbprint}`` (an explicit ``cnf=`` wins).
        :param claims: ``roles=``, ``scope=``, ``permissions=``, ``expires_in=`` and any
            claim (``aud=``, ``iss=``, ``sub=None`` …); see :meth:`claims`.
        """
        signer = key or self.current_key
        header: dict[str, Any] = {"alg": signer.algorithm, "typ": "JWT", "kid": signer.kid}
        header.update(headers or {})
        header = {name: value for name, value in header.items() if value is not None}
        if dpop_key is not None:
            claims = {"cnf": {"jkt": dpop_key.thumbprint}, **claims}
        return self.sign(header, self.claims(**claims), key=signer)

    def sign(
        self,
        header: Mapping[str, Any] | bytes,
        payload: Mapping[str, Any] | bytes,
        *,
        key: ForgedKey | None = None,
        algorithm: str | None = None,
    ) -> str:
        """Sign an arbitrary header and payload (dicts, or raw JSON bytes) into a compact JWS.

        The signature is made with ``key`` (default: the current key) under ``algorithm``
        (default: the key's), whatever the header says: this is how tests forge tokens.
        """
        signer = key or self.current_key
        return _compact_jws(header, payload, signer.private_key, algorithm or signer.algorithm)

    # -- wiring ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The ``CLAIMGUARD_*`` settings that trust this issuer, with its audience and roles
        claim: for an app that has none of its own, e.g. ``create_app(issuer.config())``.

        They *replace* an app's own audience and roles claim. To test an app with the
        ones it really reads, use :meth:`configure` or :meth:`build_app`.
        """
        return {**self._trust(), **self._expected()}

    def _trust(self) -> dict[str, Any]:
        """Where the keys come from: this issuer, its JWKS and its algorithm only."""
        return {
            "CLAIMGUARD_ISSUER": self.issuer,
            "CLAIMGUARD_JWKS_URL": self.jwks_url,
            "CLAIMGUARD_ALGORITHMS": [self.algorithm],
        }

    def _expected(self) -> dict[str, Any]:
        """What the tokens say: the audience they are for and where their roles are."""
        return {"CLAIMGUARD_AUDIENCE": self.audience, "CLAIMGUARD_ROLES_CLAIM": self.roles_claim}

    def configure(self, app: Any, *, override: bool = False) -> None:
        """Make a Flask app trust this issuer, and this issuer mint tokens for the app.

        Call it **before** ``ClaimGuard(app)`` or ``guard.init_app(app)``: claimguard reads
        its settings once, there. It sets ``CLAIMGUARD_ISSUER``, ``CLAIMGUARD_JWKS_URL``
        and ``CLAIMGUARD_ALGORITHMS`` to this issuer's and removes ``CLAIMGUARD_DOMAIN``,
        so the app trusts this issuer only. Every other setting is left alone.

        The app's own ``CLAIMGUARD_AUDIENCE`` and ``CLAIMGUARD_ROLES_CLAIM`` are kept, and
        this issuer takes them over (the first of each, if the app lists several):
        :meth:`mint` then writes the app's audience as ``aud`` and ``roles=`` under the
        claim the app really reads, so tests go through the app's own settings rather
        than ones put in their place. (To pin the name your Post-Login Action writes,
        spell it out in one test: ``mint(**{"https://my-app.example.com/roles": [...]})``.)
        An app without them gets this issuer's.

        ::

            app = Flask(__name__)
            app.config["CLAIMGUARD_AUDIENCE"] = "https://products.example.com"
            app.config["CLAIMGUARD_ROLES_CLAIM"] = "https://my-app.example.com/roles"
            issuer.configure(app)
            ClaimGuard(app)
            token = issuer.mint(roles=["admin"])   # for that audience, under that claim

        :param override: replace the app's audience and roles claim with this issuer's
            (the behaviour of :meth:`config`), e.g. to exercise the app's settings under
            names of your choosing.
        :raises RuntimeError: claimguard is already set up on ``app``. Changing its
            settings then would change nothing, so this is an error rather than a test
            that quietly goes on against the real issuer.
        """
        if _EXTENSION_KEY in getattr(app, "extensions", {}):
            raise RuntimeError(
                "ForgedIssuer.configure(app) came too late: claimguard is already set up "
                "on this app (ClaimGuard(app) or guard.init_app(app) has run and read its "
                "settings), so the app would still trust its real issuer. Call "
                "configure(app) before ClaimGuard(app) / guard.init_app(app). If an app "
                "factory sets claimguard up, give it a config mapping "
                "(create_app(config=None)) and build the app with "
                "forged_issuer.build_app(create_app)."
            )
        config: MutableMapping[str, Any] = app.config
        config.update(self._trust())
        config.pop("CLAIMGUARD_DOMAIN", None)
        for key, value in self._expected().items():
            if override or not _is_set(config.get(key)):
                config[key] = value
        self._adopt(config)

    def build_app(
        self,
        factory: Callable[[dict[str, Any]], _App],
        config: Mapping[str, Any] | None = None,
        *,
        override: bool = False,
    ) -> _App:
        """Build a Flask app with your app factory, trusting this issuer; :meth:`configure`
        for apps whose factory sets claimguard up itself.

        ``factory`` is called with one mapping: ``config`` plus this issuer's
        ``CLAIMGUARD_ISSUER``, ``CLAIMGUARD_JWKS_URL`` and ``CLAIMGUARD_ALGORITHMS`` (and
        ``CLAIMGUARD_DOMAIN`` cleared). It must apply that mapping over its own settings
        before ``init_app``, as a ``create_app(config=None)`` factory does. The app keeps
        its own audience and roles claim, and this issuer takes them over, as with
        :meth:`configure`::

            app = forged_issuer.build_app(create_app, {"TESTING": True})
            token = forged_issuer.mint(roles=["admin"])   # as the app expects

        :param config: more settings for the factory (``TESTING``, a database path …).
        :param override: pass this issuer's audience and roles claim too, replacing the
            app's (needed when the app takes them from the environment).
        :returns: what ``factory`` returned.
        :raises RuntimeError: the app the factory built does not trust this issuer (the
            factory did not apply the mapping it was given).
        """
        settings: dict[str, Any] = {**(config or {}), **self._trust(), "CLAIMGUARD_DOMAIN": None}
        if override:
            settings.update(self._expected())
        app = factory(settings)
        built = app.config
        if (built.get("CLAIMGUARD_ISSUER"), built.get("CLAIMGUARD_JWKS_URL")) != (
            self.issuer,
            self.jwks_url,
        ):
            name = getattr(factory, "__name__", "the factory")
            raise RuntimeError(
                f"the app that {name}(config) built does not trust this ForgedIssuer (its "
                f"CLAIMGUARD_ISSUER is {built.get('CLAIMGUARD_ISSUER')!r}, CLAIMGUARD_DOMAIN "
                f"{built.get('CLAIMGUARD_DOMAIN')!r}): the factory must apply the config "
                "mapping it is given, e.g. app.config.update(config), before init_app"
            )
        self._adopt(built)
        return app

    def _adopt(self, config: Mapping[str, Any]) -> None:
        """Mint for the audience and roles claim that ``config`` sets, where it sets them."""
        audience = _first(config.get("CLAIMGUARD_AUDIENCE"))
        if audience is not None:
            self.audience = audience
        roles_claim = _first(config.get("CLAIMGUARD_ROLES_CLAIM"))
        if roles_claim is not None:
            self.roles_claim = roles_claim

    def key_set(self, **options: Any) -> JWKSCache:
        """A :class:`~claimguard.JWKSCache` for this issuer's JWKS URL."""
        return JWKSCache(self.jwks_url, **options)

    def validator(self, *, key_set: JWKSCache | None = None, **options: Any) -> TokenValidator:
        """A :class:`~claimguard.TokenValidator` that trusts this issuer only."""
        settings: dict[str, Any] = {
            "audiences": self.audience,
            "algorithms": [self.algorithm],
            "roles_claims": [self.roles_claim],
        }
        settings.update(options)
        return TokenValidator(issuers={self.issuer: key_set or self.key_set()}, **settings)

    # -- HTTP -----------------------------------------------------------------------

    def _answer(self, path: str) -> tuple[int, bytes, Mapping[str, str], float]:
        json_type = {"Content-Type": "application/json"}
        if path == "/.well-known/openid-configuration":
            with self._lock:
                self.discovery_requests += 1
            if self._outage:
                return 503, b'{"error":"outage"}', json_type, 0.0
            document = {
                "issuer": self.issuer,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": [self.algorithm],
            }
            return 200, json.dumps(document).encode(), json_type, 0.0
        if path == "/.well-known/jwks.json":
            with self._lock:
                self.jwks_requests += 1
            override = self._override
            if override is not None:
                return override.status, override.body, override.headers, override.delay
            if self._outage:
                return 503, b'{"error":"outage"}', json_type, 0.0
            return 200, json.dumps(self.jwks()).encode(), json_type, 0.0
        return 404, b'{"error":"not_found"}', json_type, 0.0


def _is_set(value: object) -> bool:
    """Whether a setting holds a value (claimguard reads ``None`` and ``[]`` as unset)."""
    return value is not None and value != "" and value != [] and value != ()


def _first(value: object) -> str | None:
    """The string a setting names, or the first of a list of them; else ``None``."""
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return value if isinstance(value, str) and value else None


def _put_claim(payload: dict[str, Any], name: str, value: Any) -> None:
    """Write ``value`` at claim ``name``: a top-level claim, or a JSON Pointer (RFC 6901,
    ``"/realm_access/roles"``) as nested objects, where claimguard reads it."""
    if not name.startswith("/"):
        payload[name] = value
        return
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in name.split("/")[1:]]
    target = payload
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _handler_for(issuer: ForgedIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, headers, delay = issuer._answer(self.path.split("?")[0])
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (size cap, timeout): that is the point

        def date_time_string(self, timestamp: float | None = None) -> str:
            # The Date header (RFC 9110 §6.6.1) is read on the issuer's clock, which
            # tests may set off ours by clock_offset seconds.
            if timestamp is None:
                timestamp = time.time() + issuer.clock_offset
            return super().date_time_string(timestamp)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
