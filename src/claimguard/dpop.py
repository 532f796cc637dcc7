"""Checking a DPoP proof (RFC 9449) on a resource server, without Flask.

A DPoP-bound access token is useless without the private key it was bound to: with each
request the client sends, in a ``DPoP`` header, a *proof*: a JWT signed by that key,
naming the request (``htm``, ``htu``), the time (``iat``), a unique id (``jti``) and the
hash of the token (``ath``), with the public key in its header (``jwk``). The token
names the key by its RFC 7638 thumbprint in ``cnf.jkt`` (RFC 9449 §6.1).

:class:`DPoPVerifier` runs the checks of RFC 9449 §4.3 and §7.1 in a fixed order, each
refusal with its own reason code (:data:`claimguard.dpop_errors.DPOP_REASONS`)::

     1. exactly one DPoP header, holding one compact JWS      dpop.missing/several/malformed
     2. typ is "dpop+jwt"; no crit, b64 or zip                   dpop.type / dpop.header
     3. alg is allowed (asymmetric only)                         dpop.algorithm
     4. jwk is a usable public key                               dpop.key
     5. alg fits the jwk                                         dpop.algorithm
     6. the signature verifies with the jwk                      dpop.signature
     7. htm is the request method                                dpop.method
     8. htu is the request URL (normalised)                      dpop.url
     9. iat is recent, or the server nonce is fresh              dpop.iat / dpop.nonce*
    10. jti is a string of 1-256 characters                      dpop.jti
    11. ath is the hash of the access token                      dpop.ath
    12. the jwk's thumbprint is the token's cnf.jkt              token.unbound / dpop.binding
    13. the jti was never used with this key (replay store)      dpop.replay

The replay store comes last, so only a proof right in every other way uses up its
``jti``: a forged or stale proof cannot burn the ``jti`` of a real one. A store that
cannot answer refuses the proof with 503 (``dpop.store_unavailable``), never passes it.

The verifier does not validate the access token itself: give it the token and its
``cnf`` claim after :class:`~claimguard.TokenValidator` accepted the token.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import TypeGuard

from .dpop_errors import DPoPNonceError
from .dpop_errors import DPoPProofError
from .dpop_errors import DPoPRequestError
from .dpop_errors import DPoPStoreUnavailableError
from .dpop_errors import DPoPTokenError
from .dpop_nonce import DPoPNonces
from .errors import ConfigurationError
from .errors import InvalidTokenError
from .errors import loggable
from .jws import ParsedToken
from .jws import parse_compact
from .keys import SUPPORTED_ALGORITHMS
from .keys import UnusableKeyError
from .keys import VerificationKey
from .keys import algorithm
from .keys import import_jwk
from .keys import jwk_thumbprint
from .options import DPOP_ALGORITHMS
from .options import DPOP_LEEWAY
from .options import DPOP_MAX_AGE
from .replay import ReplayStore

__all__ = [
    "DEFAULT_DPOP_ALGORITHMS",
    "DPoPProof",
    "DPoPVerifier",
    "access_token_hash",
    "normalize_htu",
]

#: Proof algorithms accepted unless configured otherwise (RFC 9449 §4.2 asks for
#: asymmetric ones; these two are compact, fast and have no padding or size pitfalls).
DEFAULT_DPOP_ALGORITHMS: tuple[str, ...] = tuple(DPOP_ALGORITHMS.default)
#: Longest DPoP header value read. A proof with an 8192-bit RSA jwk stays under 4 KiB.
MAX_PROOF_LENGTH = 8192
#: Longest ``jti`` accepted: enough for any random id, short enough to hash cheaply.
MAX_JTI_LENGTH = 256
_TYP = "dpop+jwt"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
#: Proof keys remembered per verifier (one per client key in use).
_MAX_KEYS = 1024


@dataclass(frozen=True)
class DPoPProof:
    """A proof the verifier accepted."""

    #: The RFC 7638 thumbprint of the proof key (base64url), equal to the token's cnf.jkt.
    thumbprint: str
    jti: str
    #: Whether freshness came from a server nonce rather than from ``iat``.
    nonce_used: bool


def access_token_hash(access_token: str) -> str:
    """``ath`` for a token: base64url of the SHA-256 of its ASCII bytes, unpadded
    (RFC 9449 §4.2).

    :raises UnicodeEncodeError: the token is not ASCII (no JWT is).
    """
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# -- htu: RFC 3986 §6.2.2 and §6.2.3 normalisation ----------------------------------------

# RFC 3986 Appendix B, with scheme and authority required (RFC 9449 §4.2: htu is the
# HTTP URI of the request).
_URI = re.compile(r"([^:/?#]+)://([^/?#]*)([^?#]*)(?:\?[^#]*)?(?:#.*)?", re.DOTALL)
_AUTHORITY = re.compile(r"(\[[^\]]*\]|[^:]*)(?::([0-9]*))?")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters that may appear in a URI at all (RFC 3986 §2): reserved, unreserved, "%".
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


def _normalize_percent(text: str) -> str:
    """RFC 3986 §6.2.2.1-2: hex digits upper case; unreserved characters decoded."""
    if "%" in text and text.count("%") != len(_PERCENT.findall(text)):
        raise ValueError("bad percent-encoding")

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _PERCENT.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, for an absolute path."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    # A path ending in "/." or "/.." names a directory: keep its trailing slash.
    if path.endswith(("/.", "/..")):
        output.append("")
    return "/" + "/".join(output)


@functools.lru_cache(maxsize=1024)
def normalize_htu(uri: str) -> str:
    """An HTTP(S) URI in the form htu is compared in (RFC 9449 §4.3 step 9).

    Query and fragment removed; scheme and host lower case (RFC 3986 §6.2.2.1);
    percent-encoding normalised (§6.2.2.2); dot segments removed (§6.2.2.3); the
    scheme's default port and an empty port dropped, an empty path made "/" (§6.2.3).

    :raises ValueError: ``uri`` is no absolute http(s) URI with a host.
    """
    if not uri.isascii() or _URI_CHARS.fullmatch(uri) is None:
        raise ValueError("not a URI (characters outside RFC 3986 §2)")
    parts = _URI.fullmatch(uri)
    if parts is None:
        raise ValueError("not an absolute URI with an authority")
    scheme, authority, path = parts.group(1).lower(), parts.group(2), parts.group(3)
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("not an http or https URI")
    if "@" in authority:
        raise ValueError("user information in the authority")
    host_port = _AUTHORITY.fullmatch(authority)
    if host_port is None:
        raise ValueError("unreadable authority")
    host = _normalize_percent(host_port.group(1)).lower()
    if not host:
        raise ValueError("no host")
    port = host_port.group(2) or ""
    if port:
        if len(port) > 5 or int(port) > 65535:
            raise ValueError("port out of range")
        port = str(int(port))
    if port == _DEFAULT_PORTS[scheme]:
        port = ""
    path = _remove_dot_segments(_normalize_percent(path) or "/")
    return f"{scheme}://{host}{':' + port if port else ''}{path}"


# -- the verifier -------------------------------------------------------------------------


# Reason codes are passed through these helpers: each error class checks at once that
# its code is a row of DPOP_REASONS with the class's status.
def _proof_error(reason: str, detail: str) -> DPoPProofError:
    return DPoPProofError(reason=reason, detail=detail)


def _request_error(reason: str, detail: str) -> DPoPRequestError:
    return DPoPRequestError(reason=reason, detail=detail)


def _nonce_error(reason: str, detail: str, nonce: str) -> DPoPNonceError:
    return DPoPNonceError(reason=reason, detail=detail, nonce=nonce)


def _utf8(text: str) -> bytes:
    # JSON can carry lone surrogates ("\\ud800"), which strict UTF-8 cannot encode.
    return text.encode("utf-8", "surrogatepass")


def _numeric_date(value: object) -> float | None:
    """``value`` as a finite float, if it is a JSON number (``1e400`` parses as
    infinity, and a huge integer overflows a float: neither is a time)."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_number(value: object) -> TypeGuard[int | float]:
    # JSON numbers only: bool is an int in Python, and "123" is a string.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class DPoPVerifier:
    """Checks DPoP proofs for a resource server (RFC 9449 §4.3, §7.1).

    ::

        verifier = DPoPVerifier(RedisReplayStore("redis://127.0.0.1:6379/0"))
        proof = verifier.verify(
            request.headers.getlist("DPoP"),
            method=request.method,
            url="https://api.example.com/orders",     # scheme://host[:port]/path
            access_token=token_string,
            cnf=verified_token.claims.get("cnf"),
        )

    :param store: where used proofs are remembered (:mod:`claimguard.replay`).
    :param algorithms: the proof algorithms accepted, a subset of
        :data:`claimguard.keys.SUPPORTED_ALGORITHMS` (asymmetric only: ``none`` and
        ``HS*`` cannot be named).
    :param max_age: seconds a proof is accepted after its ``iat``.
    :param leeway: seconds a proof's ``iat`` may lie ahead of this server's clock.
    :param nonces: demand server nonces (RFC 9449 §9): freshness then comes from the
        nonce instead of the ``iat`` window, and refusals carry a fresh nonce.
    :param clock: seconds since the epoch, when :meth:`verify` is given no ``now``.
    :raises ConfigurationError: an option cannot work.
    """

    def __init__(
        self,
        store: ReplayStore,
        *,
        algorithms: Collection[str] = DEFAULT_DPOP_ALGORITHMS,
        max_age: float = DPOP_MAX_AGE.default,
        leeway: float = DPOP_LEEWAY.default,
        nonces: DPoPNonces | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(algorithms, str):
            algorithms = [algorithms]
        chosen = frozenset(algorithms)
        if not chosen or not chosen <= SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"DPoP algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}, "
                f"got {sorted(chosen)}"
            )
        # The ranges of CLAIMGUARD_DPOP_MAX_AGE and _LEEWAY, for a direct caller too.
        max_age = DPOP_MAX_AGE.number(max_age, "max_age=")
        leeway = DPOP_LEEWAY.number(leeway, "leeway=")
        if not callable(getattr(store, "claim", None)):
            raise ConfigurationError("the DPoP replay store must have a claim(key, ttl) method")
        self.store = store
        self.algorithms = chosen
        self.max_age = float(max_age)
        self.leeway = float(leeway)
        self.nonces = nonces
        #: Seconds since the epoch: the time proofs are judged at.
        self.clock = clock
        #: The ``algs`` challenge parameter (RFC 9449 §7.1).
        self.algs = " ".join(sorted(chosen))
        #: Imported proof keys by header segment (see :meth:`_key_of`).
        self._keys: dict[bytes, tuple[VerificationKey, str]] = {}

    def verify(
        self,
        headers: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        cnf: object,
        now: float | None = None,
    ) -> DPoPProof:
        """Check the proof of one request; return what it proved.

        :param headers: every value of the request's ``DPoP`` header, in order.
        :param method: the request's HTTP method, as received (``"GET"``).
        :param url: the request URL as this server is reached:
            ``scheme://host[:port]/path`` (a query or fragment is ignored).
        :param access_token: the access token sent with the proof.
        :param cnf: the token's ``cnf`` claim (``None`` when it has none).
        :param now: seconds since the epoch (default: the clock).
        :raises DPoPRequestError: no, several or unreadable DPoP headers (400).
        :raises DPoPNonceError: a server nonce is missing or stale (401 use_dpop_nonce).
        :raises DPoPProofError: the proof is refused (401 invalid_dpop_proof).
        :raises DPoPTokenError: the token is not DPoP-bound (401 invalid_token).
        :raises DPoPStoreUnavailableError: the replay store cannot answer (503).
        """
        moment = float(self.clock() if now is None else now)
        try:
            return self._verify(headers, method, url, access_token, cnf, moment)
        except (DPoPProofError, DPoPRequestError, DPoPTokenError) as error:
            error.algs = self.algs
            raise

    def _verify(
        self,
        headers: Sequence[str],
        method: str,
        url: str,
        access_token: str,
        cnf: object,
        now: float,
    ) -> DPoPProof:
        parsed = _parse_header(headers)  # RFC 9449 §4.3 steps 1-2
        header, claims = parsed.header, parsed.payload
        self._check_type(header)  # RFC 9449 §4.3 step 4
        _check_header_params(header)  # RFC 7515 §4.1.11
        alg = self._check_algorithm(header)  # RFC 9449 §4.3 step 5
        key, thumbprint = self._key_of(parsed)  # RFC 9449 §4.3 step 7
        self._check_fit(alg, key)  # RFC 9449 §4.3 step 5
        _check_signature(parsed, alg, key)  # RFC 9449 §4.3 step 6
        _check_method(claims, method)  # RFC 9449 §4.3 step 8
        _check_url(claims, url)  # RFC 9449 §4.3 step 9
        window_end, nonce_used = self._check_freshness(claims, now)  # RFC 9449 §4.3 steps 10-11
        jti = _check_jti(claims)  # RFC 9449 §4.3 step 3, §4.2
        _check_ath(claims, access_token)  # RFC 9449 §4.3 step 12, §7.1
        _check_binding(cnf, thumbprint)  # RFC 9449 §4.3 step 12, §6.1
        self._claim(thumbprint, jti, window_end, now)  # RFC 9449 §11.1
        return DPoPProof(thumbprint, jti, nonce_used)

    # -- header ---------------------------------------------------------------------

    def _key_of(self, parsed: ParsedToken) -> tuple[VerificationKey, str]:
        """The proof's ``jwk`` as a key, and its RFC 7638 thumbprint.

        A client signs every proof with one key, so its proofs share one header segment
        (``typ``, ``alg``, ``jwk``): a key imported from those exact bytes is reused,
        and importing it (with its checks) happens once per client key, not per proof.
        """
        segment = parsed.signing_input.partition(b".")[0]
        known = self._keys.get(segment)
        if known is not None:
            return known
        jwk = parsed.header.get("jwk")
        key = _public_key(jwk)
        assert isinstance(jwk, Mapping)  # _public_key refused anything else
        known = (key, jwk_thumbprint(jwk))
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()  # bounded; a new client key costs one import again
        self._keys[segment] = known
        return known

    def _check_type(self, header: Mapping[str, Any]) -> None:
        typ = header.get("typ")
        if typ != _TYP or not isinstance(typ, str):  # RFC 9449 §4.2: exactly dpop+jwt
            raise _proof_error("dpop.type", f"typ {loggable(typ)} is not 'dpop+jwt'")

    def _check_algorithm(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        # RFC 9449 §4.3 step 5, RFC 8725 §3.1: asymmetric, allowed; never none or HS*.
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _proof_error(
                "dpop.algorithm", f"alg {loggable(alg)} not in {sorted(self.algorithms)}"
            )
        return alg

    def _check_fit(self, alg: str, key: VerificationKey) -> None:
        if not key.fits(alg):  # RFC 7518 §3.4: ES256 only with P-256, and so on
            raise _proof_error(
                "dpop.algorithm",
                f"alg {alg} does not fit a {key.kty} key ({sorted(key.algorithms)})",
            )

    # -- freshness ------------------------------------------------------------------

    def _check_freshness(self, claims: Mapping[str, Any], now: float) -> tuple[float, bool]:
        """Check ``iat`` (and the nonce); return until when the proof is acceptable and
        whether a nonce was used."""
        iat = _numeric_date(claims.get("iat"))
        if iat is None:  # RFC 9449 §4.2: a NumericDate, a JSON number
            raise _proof_error("dpop.iat", f"iat {loggable(claims.get('iat'))} is no number")
        if self.nonces is not None:
            return self._check_nonce(claims, now), True
        # RFC 9449 §11.1: accepted from leeway seconds before iat until max_age after.
        if iat > now + self.leeway:
            raise _proof_error("dpop.iat", f"iat {iat} is {iat - now:.0f}s in the future")
        if iat < now - self.max_age:
            raise _proof_error("dpop.iat", f"iat {iat} is {now - iat:.0f}s old")
        return iat + self.max_age, False

    def _check_nonce(self, claims: Mapping[str, Any], now: float) -> float:
        assert self.nonces is not None
        nonce = claims.get("nonce")
        if nonce is None:  # RFC 9449 §9: the server demands a nonce
            raise _nonce_error("dpop.nonce_required", "proof has no nonce", self.nonces.issue(now))
        until = self.nonces.valid_until(nonce, now)
        if until is None:  # RFC 9449 §4.3 step 10
            detail = f"nonce {loggable(nonce, 20)} is stale or not ours"
            raise _nonce_error("dpop.nonce", detail, self.nonces.issue(now))
        return until

    # -- replay ---------------------------------------------------------------------

    def _claim(self, thumbprint: str, jti: str, window_end: float, now: float) -> None:
        key = replay_key(thumbprint, jti)
        # Remember the jti for as long as the proof could still be accepted anywhere:
        # until its window ends on this clock, plus the leeway, for an instance whose
        # clock is behind ours (or this one, after its wall clock steps back) by as much
        # as the skew tolerated on iat.
        ttl = max(1, math.ceil(window_end - now + self.leeway))
        try:
            first = self.store.claim(key, ttl)
        except DPoPStoreUnavailableError:
            raise
        except Exception as exc:  # whatever a store raises, the proof is not accepted
            raise DPoPStoreUnavailableError(
                detail=f"replay store failed: {type(exc).__name__}: {loggable(str(exc))}"
            ) from exc
        if first is not True:
            raise _proof_error("dpop.replay", f"jti {loggable(jti, 40)} was already used")


def replay_key(thumbprint: str, jti: str) -> str:
    """The replay store key of a proof: ``dpop:<client>:<proof>``, of bounded length
    whatever the ``jti``, and per key, so one client cannot use up another's ``jti``
    values. ``<client>`` (16 characters of the key's hashed thumbprint) lets a store
    count each client's live proofs."""
    client = hashlib.sha256(_utf8(thumbprint)).digest()
    digest = hashlib.sha256(_utf8(f"{thumbprint}\0{jti}")).digest()
    return f"dpop:{_b64(client)[:16]}:{_b64(digest)}"


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parse_header(headers: Sequence[str]) -> ParsedToken:
    if isinstance(headers, str):
        headers = [headers]
    if not headers:
        raise _request_error("dpop.missing", "no DPoP header")
    if len(headers) > 1:  # RFC 9449 §4.3 step 1
        raise _request_error("dpop.several", f"{len(headers)} DPoP headers")
    value = headers[0]
    if not isinstance(value, str) or not value:
        raise _request_error("dpop.missing", "empty DPoP header")
    if len(value) > MAX_PROOF_LENGTH:
        raise _request_error("dpop.malformed", f"DPoP header of {len(value)} characters")
    try:
        return parse_compact(value)  # RFC 9449 §4.3 step 2: one well-formed JWT
    except InvalidTokenError as exc:
        raise _request_error("dpop.malformed", f"DPoP header: {exc.detail}") from exc


def _public_key(jwk: object) -> VerificationKey:
    """Import the header's ``jwk``: a public RSA, EC or OKP key within keys.py's limits."""
    if not isinstance(jwk, Mapping):  # RFC 9449 §4.2: REQUIRED, a JSON object
        raise _proof_error("dpop.key", "jwk header is missing or not an object")
    try:
        # RFC 9449 §4.3 step 7: no private key; §4.2: no symmetric one. import_jwk
        # refuses both (kty oct, or any private member), as it does in a key set.
        # The parsed header is read-only (arrays are tuples); keys.py reads plain JSON.
        plain = {name: list(v) if isinstance(v, tuple) else v for name, v in jwk.items()}
        return import_jwk(plain)
    except UnusableKeyError as why:
        raise _proof_error("dpop.key", f"jwk is not usable: {why}") from why


def _check_signature(parsed: ParsedToken, alg: str, key: VerificationKey) -> None:
    try:
        valid = algorithm(alg).verify(parsed.signing_input, key.public_key, parsed.signature)
    except Exception:  # a malformed signature can raise instead of returning False
        valid = False
    if not valid:
        raise _proof_error("dpop.signature", "signature does not verify with the jwk")


#: Header parameters whose semantics no proof needs and claimguard does not implement:
#: honouring them wrongly could change what was signed (RFC 7797 b64, RFC 7516 zip).
_REFUSED_HEADER_PARAMS = ("crit", "b64", "zip")


def _check_header_params(header: Mapping[str, Any]) -> None:
    # RFC 7515 §4.1.11: a recipient MUST reject crit extensions it does not understand.
    for name in _REFUSED_HEADER_PARAMS:
        if name in header:
            raise _proof_error("dpop.header", f"header parameter {name!r} is not supported")


def _check_method(claims: Mapping[str, Any], method: str) -> None:
    htm = claims.get("htm")
    if not isinstance(htm, str) or htm != method:  # RFC 9110 §9.1: case-sensitive
        raise _proof_error("dpop.method", f"htm {loggable(htm)} is not {loggable(method)}")


def _check_url(claims: Mapping[str, Any], url: str) -> None:
    htu = claims.get("htu")
    if not isinstance(htu, str):
        raise _proof_error("dpop.url", f"htu {loggable(htu)} is not a string")
    try:
        expected = normalize_htu(_as_uri(url))
    except ValueError as why:
        raise _proof_error("dpop.url", f"request URL {loggable(url)}: {why}") from why
    try:
        given = normalize_htu(htu)
    except ValueError as why:
        raise _proof_error("dpop.url", f"htu {loggable(htu)}: {why}") from why
    if given != expected:
        raise _proof_error("dpop.url", f"htu {loggable(given)} is not {loggable(expected)}")


def _as_uri(url: str) -> str:
    """The request URL with non-ASCII characters percent-encoded as UTF-8 (RFC 3987
    §3.1), since a server may hand over its path decoded. htu itself must be ASCII."""
    if url.isascii():
        return url
    return "".join(
        char if char.isascii() else "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        for char in url
    )


def _check_jti(claims: Mapping[str, Any]) -> str:
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise _proof_error("dpop.jti", f"jti {loggable(jti, 40)} is not a string of 1-256")
    return jti


def _check_ath(claims: Mapping[str, Any], access_token: str) -> None:
    ath = claims.get("ath")
    if not isinstance(ath, str):  # RFC 9449 §4.2: required with an access token
        raise _proof_error("dpop.ath", f"ath {loggable(ath, 50)} is not a string")
    try:
        expected = access_token_hash(access_token).encode("ascii")
    except UnicodeEncodeError:
        expected = b""
    # Constant time: the hash is not secret, but nothing is learned from the timing.
    if not expected or not hmac.compare_digest(_utf8(ath), expected):
        raise _proof_error("dpop.ath", "ath is not the hash of the access token")


def _check_binding(cnf: object, thumbprint: str) -> None:
    """Compare the proof key's thumbprint with the token's ``cnf.jkt`` (RFC 9449 §6.1)."""
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    if not isinstance(jkt, str):
        raise DPoPTokenError(detail=f"token cnf {loggable(cnf, 60)} holds no jkt")
    if not hmac.compare_digest(thumbprint.encode("ascii"), _utf8(jkt)):
        raise _proof_error("dpop.binding", f"jwk thumbprint is not cnf.jkt {loggable(jkt, 50)}")
