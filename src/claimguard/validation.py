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
   leeway; max age; allowed clients; the binding: no ``cnf`` for a bearer token, a
   ``cnf.jkt`` for one sent with the DPoP scheme (whose proof the caller checks).
7. The :class:`VerifiedToken` takes over the parsed payload; it reads roles, scopes and
   permissions, and deep-freezes the claims, on first access (the route's requirement
   is checked by the caller, on every request).

Any unexpected exception inside validation becomes ``InvalidTokenError``: a bug or an
input we did not foresee is a refusal, never a 500.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from .bearer import MAX_TOKEN_BYTES
from .claims import ClaimRules
from .discovery import check_issuer_url
from .dpop_errors import DPoPTokenError
from .errors import ClaimGuardError
from .errors import ConfigurationError
from .errors import ExpiredTokenError
from .errors import InvalidTokenError
from .errors import loggable
from .jwks import JWKSCache
from .jws import ParsedToken
from .jws import parse_compact
from .keys import VerificationKey
from .keys import algorithm
from .keys import is_short_kid
from .options import ALGORITHMS
from .options import ALLOWED_CLIENTS
from .options import AUDIENCE
from .options import LEEWAY
from .options import MAX_TOKEN_AGE
from .options import PERMISSIONS_CLAIM
from .options import ROLES_CLAIM
from .options import SCOPE_CLAIM
from .options import STRICT_TYP
from .options import TOKEN_CACHE_SIZE
from .options import check_algorithms
from .options import check_audiences
from .options import check_flag
from .options import check_number
from .options import check_strings
from .token import VerifiedToken
from .token_cache import CachedToken
from .token_cache import TokenCache

# VerifiedToken and the check_* functions live in claimguard.token and claimguard.options;
# they stay importable from here.
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
# RFC 9068 §2.1: "at+jwt"; RFC 7515 §4.1.9 lets the "application/" prefix be omitted.
_AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Explicit typing (RFC 8725 §3.11): a typ that names another class of JWT (a DPoP proof,
# a logout token, a security event, an ID token) is never an access token, whatever the
# strictness. Plain "JWT" (RFC 7519 §5.1) is what Auth0's default profile writes.
_ACCESS_TOKEN_TYPES = _AT_JWT_TYPES | {"jwt", "application/jwt"}
# Header parameters whose semantics we do not implement: honouring them wrongly could
# change what was signed (RFC 7797 b64, RFC 7516 zip) or what the payload is (cty).
_REFUSED_HEADER_PARAMS = ("crit", "b64", "zip", "cty")
#: Headers whose checks a validator remembers (as many as the parser memoises).
_MAX_HEADERS = 256
#: Marks a header member that is absent (``None`` would mean an explicit JSON null).
_ABSENT = object()


def _check_issuers(issuers: object) -> dict[str, JWKSCache]:
    if not isinstance(issuers, Mapping) or not issuers:
        raise ConfigurationError("issuers= must map at least one issuer to its JWKSCache")
    for issuer, keys in issuers.items():
        check_issuer_url(issuer, "issuer")
        if not isinstance(keys, JWKSCache):
            raise ConfigurationError(f"issuer {issuer!r} must be bound to a JWKSCache")
    return dict(issuers)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name, _ABSENT)
    if value is _ABSENT:
        return None
    if type(value) is int or type(value) is float:  # what JSON numbers parse to
        if _MIN_NUMERIC_DATE <= value <= _MAX_NUMERIC_DATE:
            return float(value)
        raise _claim_error(f"{name} is out of range")
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
    return InvalidTokenError(reason="token.claims", detail=detail)


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
        algorithms: str | Iterable[str] = ALGORITHMS.default,
        leeway: float = LEEWAY.default,
        roles_claims: str | Iterable[str] | None = ROLES_CLAIM.default,
        scope_claim: str = SCOPE_CLAIM.default,
        permissions_claim: str = PERMISSIONS_CLAIM.default,
        strict_typ: bool = STRICT_TYP.default,
        max_token_age: float | None = MAX_TOKEN_AGE.default,
        allowed_clients: str | Iterable[str] | None = ALLOWED_CLIENTS.default,
        token_cache_size: int = TOKEN_CACHE_SIZE.default,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuers: dict[str, JWKSCache] = _check_issuers(issuers)
        self.audiences = frozenset(check_strings(AUDIENCE.argument, audiences))
        self.algorithms = frozenset(check_algorithms(algorithms))
        self.leeway = LEEWAY.number(leeway)
        self.rules = ClaimRules(roles_claims, scope_claim, permissions_claim)
        self.strict_typ = check_flag(STRICT_TYP.argument, strict_typ)
        self.max_token_age = None if max_token_age is None else MAX_TOKEN_AGE.number(max_token_age)
        self.allowed_clients = (
            None
            if allowed_clients is None
            else frozenset(check_strings(ALLOWED_CLIENTS.argument, allowed_clients))
        )
        check_audiences(self.audiences, self.allowed_clients, AUDIENCE.argument)
        size = int(TOKEN_CACHE_SIZE.number(token_cache_size))
        self._cache = TokenCache(size) if size else None
        self._clock = clock
        self._headers: dict[int, tuple[Mapping[str, Any], str]] = {}
        if self._cache is not None:
            for keys in {id(k): k for k in self.issuers.values()}.values():
                keys.add_listener(functools.partial(self._cache.drop_removed_keys, keys))

    def validate(self, token: str, *, dpop: bool = False) -> VerifiedToken:
        """Verify ``token`` and return what it proves.

        :param dpop: the token came with the ``DPoP`` scheme: it must be DPoP-bound
            (``cnf.jkt``), and the caller checks its proof. Otherwise it is a bearer
            token, and a bound one is refused (RFC 9449 §7.2: no downgrade).
        :raises InvalidTokenError: the token is refused (``ExpiredTokenError`` past ``exp``).
        :raises KeySetUnavailableError: the issuer's keys cannot be obtained.
        """
        try:
            return self._validate(token, dpop)
        except ClaimGuardError:
            raise
        except Exception as exc:
            # Fail closed: an input we did not foresee is a refusal, not a 500.
            raise InvalidTokenError(
                reason="token.malformed",
                detail=f"unexpected {type(exc).__name__} while validating",
            ) from exc

    # -- the steps ---------------------------------------------------------------

    def _validate(self, token: str, dpop: bool = False) -> VerifiedToken:
        if not isinstance(token, str) or not token:
            raise InvalidTokenError(reason="token.malformed", detail="empty token")
        check_size(token)
        if type(token) is not str:
            # A str subclass could redefine equality and hashing, which the cache's
            # lookup relies on: work on a plain copy.
            token = str.__str__(token)
        cache = self._cache
        if cache is not None:
            entry = cache.get(token)
            if entry is not None:
                if entry.bound is not dpop:
                    # Accepted before under the other scheme: the binding check decides.
                    self._check_binding(entry.token.claims, dpop)
                try:
                    self._check_window(entry.exp, entry.nbf, entry.iat, self._clock())
                except InvalidTokenError:
                    cache.forget(token)
                    raise
                return entry.token
        parsed = parse_compact(token)
        alg = self._header_alg(parsed.header)
        issuer = self._issuer_of(parsed.payload)
        key_set = self.issuers[issuer]
        key = key_set.get_key(parsed.header.get("kid"))
        check_fit(key, alg)
        check_signature(parsed, alg, key)
        exp, nbf, iat = self._check_claims(parsed.payload, issuer, dpop)
        verified = self._build(token, parsed, key.thumbprint)
        if cache is not None:
            cache.put(token, CachedToken(verified, key_set, exp, nbf, iat, dpop))
        return verified

    def _header_alg(self, header: Mapping[str, Any]) -> str:
        """:meth:`_check_header`, once per header object.

        The parser memoises headers, so every token an issuer signs with one key carries
        the same read-only header object; its checks depend on nothing else. Only passed
        checks are remembered, each with the header itself (so its ``id`` is not reused).
        """
        memo = self._headers.get(id(header))
        if memo is not None and memo[0] is header:
            return memo[1]
        alg = self._check_header(header)
        if len(self._headers) >= _MAX_HEADERS:
            self._headers.clear()
        self._headers[id(header)] = (header, alg)
        return alg

    def _check_header(self, header: Mapping[str, Any]) -> str:
        alg = self._check_alg(header)
        self._check_kid(header)
        self._check_header_params(header)
        self._check_typ(header)
        return alg

    def _check_alg(self, header: Mapping[str, Any]) -> str:
        # RFC 8725 §2.1: the allowed algorithms come from configuration, never the token.
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidTokenError(
                reason="token.algorithm",
                detail=f"alg {loggable(alg)} not in allowed {sorted(self.algorithms)}",
            )
        return alg

    def _check_kid(self, header: Mapping[str, Any]) -> None:
        # RFC 7515 §4.1.4: kid is a string. An explicit null is refused, not read as
        # "no kid" (which would select the set's only key).
        kid = header.get("kid", _ABSENT)
        if kid is not _ABSENT and not is_short_kid(kid):
            raise InvalidTokenError(reason="token.malformed", detail="kid is not a short string")

    def _check_header_params(self, header: Mapping[str, Any]) -> None:
        for name in _REFUSED_HEADER_PARAMS:
            # RFC 7515 §4.1.11: a recipient MUST reject crit extensions it does not
            # understand; we implement none.
            if name in header:
                raise InvalidTokenError(
                    reason="token.malformed",
                    detail=f"header parameter {name!r} is not supported",
                )

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
        raise InvalidTokenError(reason="token.type", detail=why)

    def _issuer_of(self, payload: Mapping[str, Any]) -> str:
        iss = payload.get("iss")
        # RFC 7519 §4.1.1 and RFC 9068 §4: iss must exactly match a trusted issuer, and
        # it selects the only key set that may verify the token.
        if not isinstance(iss, str) or iss not in self.issuers:
            raise InvalidTokenError(
                reason="token.issuer",
                detail=f"iss {loggable(iss)} not in configured {sorted(self.issuers)}"
                + _issuer_hint(iss, self.issuers),
            )
        return iss

    def _check_claims(
        self, claims: Mapping[str, Any], issuer: str, dpop: bool = False
    ) -> tuple[float, float | None, float]:
        """Check the claims of step 6; return ``exp``, ``nbf`` and ``iat``."""
        if claims.get("iss") != issuer:  # pragma: no cover - selected by _issuer_of
            raise _claim_error("iss changed between steps")
        self._check_audience(claims)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _claim_error("sub is missing or not a string")
        exp, nbf, iat = self._times(claims)
        self._check_window(exp, nbf, iat, self._clock())
        self._check_client(claims)
        self._check_binding(claims, dpop)
        return exp, nbf, iat

    def _times(self, claims: Mapping[str, Any]) -> tuple[float, float | None, float]:
        """``exp``, ``nbf`` and ``iat`` as numbers; ``exp`` and ``iat`` are required."""
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        if exp is None:
            raise _claim_error("exp is missing")
        if iat is None:
            # RFC 9068 §2.2: iat is REQUIRED in a JWT access token (Auth0 always sets it).
            raise _claim_error("iat is missing")
        return exp, nbf, iat

    def _check_client(self, claims: Mapping[str, Any]) -> None:
        if self.allowed_clients is not None:
            client = claims.get("client_id", claims.get("azp"))
            if not isinstance(client, str) or client not in self.allowed_clients:
                raise InvalidTokenError(
                    reason="token.client",
                    detail=f"client {loggable(client)} not in allowed clients",
                )

    def _check_binding(self, claims: Mapping[str, Any], dpop: bool = False) -> None:
        cnf = claims.get("cnf", _ABSENT)
        if not dpop:
            if cnf is not _ABSENT:
                # RFC 9449 §7.2 / RFC 8705: a sender-constrained token must not be
                # accepted as a plain bearer token, or a stolen one could be replayed.
                raise InvalidTokenError(
                    reason="token.bound",
                    detail="token carries cnf (DPoP or mTLS binding) but came as Bearer",
                )
            return
        # RFC 9449 §6.1: a DPoP-bound JWT names its key's thumbprint in cnf.jkt.
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if not isinstance(jkt, str) or not jkt:
            raise DPoPTokenError(
                reason="token.unbound",
                detail="DPoP scheme, but the token has no cnf.jkt: it is not DPoP-bound",
            )

    def _check_audience(self, claims: Mapping[str, Any]) -> None:
        # RFC 7519 §4.1.3: aud is a string or an array of strings; one must be ours.
        aud = claims.get("aud")
        if type(aud) is str and aud in self.audiences:
            return  # the usual case: one audience, ours
        values = [aud] if isinstance(aud, str) else aud
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(value, str) for value in values)
        ):
            raise _claim_error("aud is missing or not a string / array of strings")
        if self.audiences.isdisjoint(values):
            raise InvalidTokenError(
                reason="token.audience",
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
                reason="token.not_yet_valid",
                detail=f"nbf is {nbf - now:.0f}s ahead{_CLOCK_HINT}",
            )
        if now < iat - leeway:
            raise InvalidTokenError(
                reason="token.not_yet_valid",
                detail=f"iat is {iat - now:.0f}s ahead{_CLOCK_HINT}",
            )
        if self.max_token_age is not None and now - iat > self.max_token_age + leeway:
            raise ExpiredTokenError(
                reason="token.max_age", detail=f"issued {now - iat:.0f}s ago, over max age"
            )

    def _build(self, token: str, parsed: ParsedToken, thumbprint: str) -> VerifiedToken:
        # The payload was parsed for this call only: the token takes it over, and
        # freezes it (and reads roles, permissions, scopes) on first access.
        return VerifiedToken.from_payload(
            parsed.payload, parsed.header, token, thumbprint, self.rules
        )


# OIDC Core §2 and §5.1: nonce and at_hash belong to ID tokens, never to access tokens;
# the standard profile claims are what an ID token (or userinfo) carries, and Auth0 puts
# them on an access token only under a namespaced name.
_ID_TOKEN_CLAIMS = ("nonce", "at_hash", "name", "nickname", "picture", "email", "updated_at")


def id_token_sign(claims: Mapping[str, Any]) -> str | None:
    """The first claim that marks ``claims`` as an ID token's, or ``None``."""
    return next((name for name in _ID_TOKEN_CLAIMS if name in claims), None)


def check_size(token: str) -> None:
    """Check order, step 1: a token over :data:`MAX_TOKEN_BYTES` is refused unparsed."""
    if not token:
        raise InvalidTokenError(reason="token.malformed", detail="empty token")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError(
            reason="token.too_large",
            detail=f"token of {len(token)} characters exceeds {MAX_TOKEN_BYTES}",
        )


def check_fit(key: VerificationKey, alg: str) -> None:
    """The key the token names must be able to verify its ``alg`` (RFC 7518 §3)."""
    if not key.fits(alg):
        raise InvalidTokenError(
            reason="key.algorithm",
            detail=f"key {loggable(key.kid)} ({key.kty}) cannot verify alg {alg}",
        )


def check_signature(parsed: ParsedToken, alg: str, key: VerificationKey) -> None:
    """The signature, with exactly that one algorithm (RFC 7515 §5.2)."""
    if not algorithm(alg).verify(parsed.signing_input, key.public_key, parsed.signature):
        raise InvalidTokenError(
            reason="token.signature",
            detail=f"signature check failed with key {loggable(key.kid)}",
        )


def _id_token_hint(claims: Mapping[str, Any]) -> str:
    sign = id_token_sign(claims)
    if sign is None:
        return ""
    return (
        f"; this looks like an ID token (it has {sign}): send the access token, "
        "requested with this API's identifier as audience"
    )


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
