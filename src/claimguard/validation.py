"""``TokenValidator``: from a token string to a :class:`VerifiedToken`, or a refusal.

Checks run cheapest and attacker-independent first; each failure is final:

1. Size cap (:data:`~claimguard.bearer.MAX_TOKEN_BYTES`).
2. Compact JWS shape, strict base64url and JSON; header: ``alg`` on the allow-list,
   ``kid`` a short string, no ``crit``/``b64``/``zip``/``cty``; ``typ``, when present,
   names an access token (``JWT``, ``at+jwt``), and is ``at+jwt`` when strict.
3. ``iss``, read unverified, names a configured issuer: else refused with no fetch.
4. Key lookup in that issuer's set only (the only step that may fetch, and the only
   one that may answer 503); the key's type, curve and ``alg`` must fit the token's
   ``alg``.
5. Signature, with exactly that one algorithm.
6. Claims: ``iss``, ``aud``, ``exp``, ``sub``, ``iat`` required; NumericDates checked with
   leeway; max age; allowed clients; no ``cnf``.
7. Roles, scopes and permissions extracted (the route's requirement is checked by the
   caller, on every request).

Any unexpected exception inside validation becomes ``InvalidTokenError``: a bug or an
input we did not foresee is a refusal, never a 500.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone
from typing import Any

from .bearer import MAX_TOKEN_BYTES
from .claims import ClaimRules
from .claims import freeze
from .discovery import check_issuer_url
from .errors import ClaimGuardError
from .errors import ConfigurationError
from .errors import ExpiredTokenError
from .errors import InvalidTokenError
from .errors import loggable
from .jwks import JWKSCache
from .jws import ParsedToken
from .jws import parse_compact
from .keys import SUPPORTED_ALGORITHMS
from .keys import algorithm
from .token_cache import CachedToken
from .token_cache import TokenCache

__all__ = [
    "TokenValidator",
    "VerifiedToken",
    "check_algorithms",
    "check_number",
    "check_strings",
]

# Python's datetime range, as POSIX seconds: a NumericDate outside it cannot be compared
# as a time and is refused (RFC 7519 §2 allows any JSON number; we allow usable ones).
_MIN_NUMERIC_DATE = -62135596800.0  # 0001-01-01T00:00:00Z
_MAX_NUMERIC_DATE = 253402300799.0  # 9999-12-31T23:59:59Z
_MAX_KID_LENGTH = 256
_FLOAT_MAX = sys.float_info.max
# RFC 9068 §2.1: "at+jwt"; RFC 7515 §4.1.9 lets the "application/" prefix be omitted.
_AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Explicit typing (RFC 8725 §3.11): a typ that names another class of JWT (a DPoP proof,
# a logout token, a security event, an ID token) is never an access token, whatever the
# strictness. Plain "JWT" (RFC 7519 §5.1) is what Auth0's default profile writes.
_ACCESS_TOKEN_TYPES = _AT_JWT_TYPES | {"jwt", "application/jwt"}
# Header parameters whose semantics we do not implement: honouring them wrongly could
# change what was signed (RFC 7797 b64, RFC 7516 zip) or what the payload is (cty).
_REFUSED_HEADER_PARAMS = ("crit", "b64", "zip", "cty")
#: Marks a header member that is absent (``None`` would mean an explicit JSON null).
_ABSENT = object()


@dataclass(frozen=True, eq=False, slots=True)
class VerifiedToken:
    """An access token whose signature and claims passed every check.

    All members are read-only: ``claims`` and ``header`` are deeply frozen mappings.
    """

    #: Every claim of the payload, deeply read-only (objects as mappings, arrays as tuples).
    claims: Mapping[str, Any]
    #: The protected header.
    header: Mapping[str, Any]
    #: The token string itself. Do not log it.
    raw: str
    roles: frozenset[str]
    permissions: frozenset[str]
    scopes: frozenset[str]
    #: Thumbprint of the key that verified the signature.
    key_thumbprint: str

    @property
    def subject(self) -> str:
        """``sub``: the user (``auth0|…``) or, for M2M tokens, ``<client_id>@clients``."""
        return str(self.claims["sub"])

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def audience(self) -> tuple[str, ...]:
        """``aud`` as a tuple, whether the token carried a string or an array."""
        aud = self.claims["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["exp"], tz=timezone.utc)

    @property
    def client_id(self) -> str | None:
        """The OAuth client the token was issued to: RFC 9068 ``client_id``, else ``azp``."""
        value = self.claims.get("client_id", self.claims.get("azp"))
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:  # never print the token itself
        return f"<VerifiedToken sub={self.claims.get('sub')!r} iss={self.claims.get('iss')!r}>"


def check_algorithms(algorithms: Iterable[str]) -> tuple[str, ...]:
    """Validate the algorithm allow-list.

    :raises ConfigurationError: empty, or naming ``none``, an HMAC or unknown algorithm.
    """
    if isinstance(algorithms, str):
        names: tuple[object, ...] = (algorithms,)
    elif isinstance(algorithms, Iterable):
        names = tuple(algorithms)
    else:
        raise ConfigurationError(
            f"CLAIMGUARD_ALGORITHMS must be a list of algorithm names, got {algorithms!r}"
        )
    if not names:
        raise ConfigurationError("CLAIMGUARD_ALGORITHMS must name at least one algorithm")
    for name in names:
        if not isinstance(name, str) or name.lower() == "none":
            raise ConfigurationError(
                f"algorithm {name!r} is refused: unsigned tokens are never accepted (RFC 8725 §3.2)"
            )
        if name.upper().startswith("HS"):
            raise ConfigurationError(
                f"algorithm {name!r} is refused: HMAC uses a shared secret, and a public "
                "key mistaken for one lets anyone mint tokens (RFC 8725 §2.1). "
                "Use RS256 (Auth0's default), PS256, ES256 or EdDSA."
            )
        if name not in SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"algorithm {name!r} is not supported; choose from "
                + ", ".join(sorted(SUPPORTED_ALGORITHMS))
            )
    return tuple(str(name) for name in names)


def check_number(name: str, value: object, low: float, high: float | None) -> float:
    """Validate a numeric setting: a real number (not a bool) within ``[low, high]``.

    :raises ConfigurationError: naming the setting and the allowed range.
    """
    top = _FLOAT_MAX if high is None else high
    # Compare, never convert first: a 400-digit int is a number but no float, and NaN
    # fails every comparison (so it is refused here as well).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if not low <= value <= top:
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigurationError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_strings(name: str, value: object) -> tuple[str, ...]:
    """Validate a setting that is one string or a list of them.

    A list or tuple, not a set: some of these are read in order (the roles claims), and
    a set's order follows string hashing, which differs between worker processes.

    :raises ConfigurationError: empty, not a string/list/tuple, or an entry that is not
        a non-blank string.
    """
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigurationError(
            f"{name} must be a non-empty string or list of strings, got {value!r}"
        )
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{name} entries must be non-empty strings, got {item!r}")
    return tuple(items)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # RFC 7519 §2 NumericDate: a JSON number. Booleans are not numbers here, and
    # neither are strings that look like one.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _claim_error(f"{name} is not a NumericDate ({type(value).__name__})")
    # The comparison refuses NaN and infinities too, and works on integers of any size
    # (math.isfinite would overflow on a 400-digit int).
    if not _MIN_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:
        raise _claim_error(f"{name} is out of range")
    return float(value)


def _claim_error(detail: str) -> InvalidTokenError:
    return InvalidTokenError("The access token has invalid claims.", detail=detail)


class TokenValidator:
    """Validates access tokens for one API.

    :param issuers: each trusted issuer (exact ``iss`` string) bound to its key set.
    :param audiences: this API's identifiers; a token matches if any ``aud`` is listed.
    :param algorithms: the asymmetric algorithms accepted.
    :param leeway: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    :param roles_claims: claim names or JSON Pointers holding roles (see
        :mod:`claimguard.claims`).
    :param scope_claim: where scopes are read.
    :param permissions_claim: where permissions are read.
    :param strict_typ: require RFC 9068 ``typ: at+jwt``.
    :param max_token_age: refuse tokens issued more than this many seconds ago.
    :param allowed_clients: when set, ``client_id`` (or ``azp``) must be one of these.
    :param token_cache_size: entries of the verified-token cache; ``0`` turns it off.
    :param clock: wall clock in POSIX seconds (a seam for tests).
    :raises ConfigurationError: for any unusable setting.

    .. warning:: the allowed algorithms come from configuration only, never from a
       token's header (RFC 8725 §2.1).
    """

    def __init__(
        self,
        *,
        issuers: Mapping[str, JWKSCache],
        audiences: str | Iterable[str],
        algorithms: str | Iterable[str] = ("RS256",),
        leeway: float = 5,
        roles_claims: str | Iterable[str] = (),
        scope_claim: str = "scope",
        permissions_claim: str = "permissions",
        strict_typ: bool = False,
        max_token_age: float | None = None,
        allowed_clients: str | Iterable[str] | None = None,
        token_cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(issuers, Mapping) or not issuers:
            raise ConfigurationError(
                "at least one issuer (CLAIMGUARD_ISSUER or _DOMAIN) is required"
            )
        for issuer, keys in issuers.items():
            check_issuer_url(issuer, "issuer")
            if not isinstance(keys, JWKSCache):
                raise ConfigurationError(f"issuer {issuer!r} must be bound to a JWKSCache")
        self.issuers: dict[str, JWKSCache] = dict(issuers)
        self.audiences = frozenset(check_strings("CLAIMGUARD_AUDIENCE", audiences))
        self.algorithms = frozenset(check_algorithms(algorithms))
        self.leeway = check_number("CLAIMGUARD_LEEWAY", leeway, 0, 300)
        self.rules = ClaimRules(roles_claims, scope_claim, permissions_claim)
        self.strict_typ = bool(strict_typ)
        self.max_token_age = (
            None
            if max_token_age is None
            else check_number("CLAIMGUARD_MAX_TOKEN_AGE", max_token_age, 1, None)
        )
        self.allowed_clients = (
            None
            if allowed_clients is None
            else frozenset(check_strings("CLAIMGUARD_ALLOWED_CLIENTS", allowed_clients))
        )
        for audience in self.audiences:
            if audience.rstrip("/").endswith("/userinfo"):
                raise ConfigurationError(
                    f"audience {audience!r} is Auth0's /userinfo endpoint, which every "
                    "login token carries: set CLAIMGUARD_AUDIENCE to your API identifier"
                )
            if self.allowed_clients and audience in self.allowed_clients:
                raise ConfigurationError(
                    f"audience {audience!r} is a client ID: ID tokens carry it as aud, so "
                    "they would pass as access tokens. Use your API identifier."
                )
        size = int(check_number("CLAIMGUARD_TOKEN_CACHE_SIZE", token_cache_size, 0, 1_000_000))
        self._cache = TokenCache(size) if size else None
        self._clock = clock
        if self._cache is not None:
            for keys in {id(k): k for k in self.issuers.values()}.values():
                keys.add_listener(functools.partial(self._cache.drop_removed_keys, keys))

    def validate(self, token: str) -> VerifiedToken:
        """Verify ``token`` and return what it proves.

        :raises InvalidTokenError: the token is refused (``ExpiredTokenError`` past ``exp``).
        :raises KeySetUnavailableError: the issuer's keys cannot be obtained.
        """
        try:
            return self._validate(token)
        except ClaimGuardError:
            raise
        except Exception as exc:
            # Fail closed: an input we did not foresee is a refusal, not a 500.
            raise InvalidTokenError(
                "The access token is malformed.",
                detail=f"unexpected {type(exc).__name__} while validating",
            ) from exc

    # -- the steps ---------------------------------------------------------------

    def _validate(self, token: str) -> VerifiedToken:
        if not isinstance(token, str) or not token:
            raise InvalidTokenError("The access token is malformed.", detail="empty token")
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError(
                "The access token is too large.",
                detail=f"token of {len(token)} characters exceeds {MAX_TOKEN_BYTES}",
            )
        cache = self._cache
        digest = b""
        if cache is not None:
            digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
            entry = cache.get(digest)
            if entry is not None:
                try:
                    self._check_window(entry.exp, entry.nbf, entry.iat, self._clock())
                except InvalidTokenError:
                    cache.forget(digest)
                    raise
                return entry.token
        parsed = parse_compact(token)
        alg = self._check_header(parsed.header)
        issuer = self._issuer_of(parsed.payload)
        key_set = self.issuers[issuer]
        key = key_set.get_key(parsed.header.get("kid"))
        if not key.fits(alg):
            raise InvalidTokenError(
                "The access token uses an unsupported algorithm.",
                detail=f"key {loggable(key.kid)} ({key.kty}) cannot verify alg {alg}",
            )
        if not algorithm(alg).verify(parsed.signing_input, key.public_key, parsed.signature):
            raise InvalidTokenError(
                "The access token signature is invalid.",
                detail=f"signature check failed with key {loggable(key.kid)}",
            )
        exp, nbf, iat = self._check_claims(parsed.payload, issuer)
        verified = self._build(token, parsed, key.thumbprint)
        if cache is not None:
            cache.put(digest, CachedToken(verified, key_set, exp, nbf, iat))
        return verified

    def _check_header(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidTokenError(
                "The access token uses an unsupported algorithm.",
                detail=f"alg {loggable(alg)} not in allowed {sorted(self.algorithms)}",
            )
        # RFC 7515 §4.1.4: kid is a string. An explicit null is refused, not read as
        # "no kid" (which would select the set's only key).
        kid = header.get("kid", _ABSENT)
        if kid is not _ABSENT and (not isinstance(kid, str) or not 0 < len(kid) <= _MAX_KID_LENGTH):
            raise InvalidTokenError(
                "The access token is malformed.", detail="kid is not a short string"
            )
        for name in _REFUSED_HEADER_PARAMS:
            # RFC 7515 §4.1.11: a recipient MUST reject crit extensions it does not
            # understand; we implement none.
            if name in header:
                raise InvalidTokenError(
                    "The access token is malformed.",
                    detail=f"header parameter {name!r} is not supported",
                )
        self._check_typ(header)
        return alg

    def _check_typ(self, header: Mapping[str, Any]) -> None:
        """Explicit typing: ``typ``, when present, must name an access token.

        RFC 7515 §4.1.9 makes ``typ`` case-insensitive. RFC 9068 §4: a resource server
        that requires ``at+jwt`` (strict mode) refuses anything else, absence included.
        """
        typ = header.get("typ", _ABSENT)
        if typ is _ABSENT and not self.strict_typ:
            return
        allowed = _AT_JWT_TYPES if self.strict_typ else _ACCESS_TOKEN_TYPES
        if isinstance(typ, str) and typ.lower() in allowed:
            return
        if typ is _ABSENT:
            why = "typ is absent; strict typing requires at+jwt"
        elif isinstance(typ, str) and typ.lower() in _ACCESS_TOKEN_TYPES:
            why = f"typ {loggable(typ)} is not at+jwt, which strict typing requires"
        else:
            why = f"typ {loggable(typ)} names another kind of JWT, not an access token"
        raise InvalidTokenError("The access token has an unsupported type.", detail=why)

    def _issuer_of(self, payload: Mapping[str, Any]) -> str:
        iss = payload.get("iss")
        # RFC 7519 §4.1.1 and RFC 9068 §4: iss must exactly match a trusted issuer, and
        # it selects the only key set that may verify the token.
        if not isinstance(iss, str) or iss not in self.issuers:
            raise InvalidTokenError(
                "The access token was issued by an untrusted issuer.",
                detail=f"iss {loggable(iss)} not in configured {sorted(self.issuers)}"
                + _issuer_hint(iss, self.issuers),
            )
        return iss

    def _check_claims(
        self, claims: Mapping[str, Any], issuer: str
    ) -> tuple[float, float | None, float]:
        """Check the claims of step 6; return ``exp``, ``nbf`` and ``iat``."""
        if claims.get("iss") != issuer:  # pragma: no cover - selected by _issuer_of
            raise _claim_error("iss changed between steps")
        self._check_audience(claims)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _claim_error("sub is missing or not a string")
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        if exp is None:
            raise _claim_error("exp is missing")
        if iat is None:
            # RFC 9068 §2.2: iat is REQUIRED in a JWT access token (Auth0 always sets it).
            raise _claim_error("iat is missing")
        self._check_window(exp, nbf, iat, self._clock())
        if self.allowed_clients is not None:
            client = claims.get("client_id", claims.get("azp"))
            if not isinstance(client, str) or client not in self.allowed_clients:
                raise InvalidTokenError(
                    "The access token was issued to a client that is not allowed.",
                    detail=f"client {loggable(client)} not in allowed clients",
                )
        if "cnf" in claims:
            # RFC 9449 / RFC 8705: a sender-constrained token must not be accepted as a
            # plain bearer token, or a stolen one could be replayed.
            raise InvalidTokenError(
                "The access token is bound to a key and cannot be used as a bearer token.",
                detail="token carries cnf (DPoP or mTLS binding), unsupported",
            )
        return exp, nbf, iat

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        # RFC 7519 §4.1.3: aud is a string or an array of strings; one must be ours.
        aud = claims.get("aud")
        values = [aud] if isinstance(aud, str) else aud
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(value, str) for value in values)
        ):
            raise _claim_error("aud is missing or not a string / array of strings")
        if self.audiences.isdisjoint(values):
            raise InvalidTokenError(
                "The access token is not meant for this API.",
                detail=f"aud mismatch: token aud {[loggable(v) for v in values[:5]]} "
                f"not in configured {sorted(self.audiences)}" + _id_token_hint(claims),
            )

    def _check_window(self, exp: float, nbf: float | None, iat: float, now: float) -> None:
        """The time checks, run at verification and again on every cache hit."""
        leeway = self.leeway
        # RFC 7519 §4.1.4: "MUST NOT be accepted for processing" on or after exp.
        if now >= exp + leeway:
            raise ExpiredTokenError(detail=f"expired {now - exp:.0f}s ago")
        # RFC 7519 §4.1.5: not before nbf.
        if nbf is not None and now < nbf - leeway:
            raise InvalidTokenError(
                "The access token is not valid yet.",
                detail=f"nbf is {nbf - now:.0f}s ahead{_CLOCK_HINT}",
            )
        if now < iat - leeway:
            raise InvalidTokenError(
                "The access token is not valid yet.",
                detail=f"iat is {iat - now:.0f}s ahead{_CLOCK_HINT}",
            )
        if self.max_token_age is not None and now - iat > self.max_token_age + leeway:
            raise ExpiredTokenError(detail=f"issued {now - iat:.0f}s ago, over max age")

    def _build(self, token: str, parsed: ParsedToken, thumbprint: str) -> VerifiedToken:
        claims = freeze(parsed.payload)
        return VerifiedToken(
            claims=claims,
            header=parsed.header,
            raw=token,
            roles=self.rules.roles(claims),
            permissions=self.rules.permissions(claims),
            scopes=self.rules.scopes(claims),
            key_thumbprint=thumbprint,
        )


def _id_token_hint(claims: Mapping[str, Any]) -> str:
    # OIDC Core §2: nonce and at_hash belong to ID tokens, never to access tokens.
    if "nonce" in claims or "at_hash" in claims:
        return (
            "; this looks like an ID token (it has nonce/at_hash): send the access token, "
            "requested with this API's identifier as audience"
        )
    return ""


_CLOCK_HINT = (
    "; if valid tokens keep failing this way, this server's clock is behind the issuer's "
    "(check NTP, or raise CLAIMGUARD_LEEWAY a little)"
)


def _issuer_hint(iss: object, configured: Mapping[str, object]) -> str:
    # The most common mismatch: Auth0's iss ends with "/", a hand-typed setting does not.
    if isinstance(iss, str):
        for name in configured:
            if name.rstrip("/") == iss.rstrip("/"):
                return (
                    "; it differs from a configured issuer only by a trailing slash: set "
                    "CLAIMGUARD_ISSUER exactly as the token's iss (Auth0's ends with '/')"
                )
    return ""
