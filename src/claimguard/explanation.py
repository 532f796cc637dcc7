"""Why a token is accepted or refused: the validator's checks, one by one.

:func:`explain` runs the checks of :meth:`TokenValidator.validate
<claimguard.TokenValidator.validate>` with the same code, in the same order, but does not
stop at the first failure: every check that can still run does, so an expired token
still shows whether its signature, audience and roles are right. The verdict is the
first failure, exactly as a request would get it (:func:`explain` and
:meth:`~claimguard.TokenValidator.validate` always agree on it; the tests hold them to
that).

A check that cannot run is *skipped*, with what it waits for: without a configured
issuer there is no key set to look a key up in, and without a key there is no signature
to check.

Nothing here reveals a secret: the explanation holds the token's header and claims (which
anyone holding the token can read), never its signature or any key material.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from .bearer import MAX_TOKEN_BYTES
from .errors import ClaimGuardError
from .errors import InvalidTokenError
from .errors import loggable
from .jws import ParsedToken
from .jws import parse_compact
from .keys import VerificationKey
from .reasons import REASONS
from .token import VerifiedToken
from .validation import TokenValidator
from .validation import check_fit
from .validation import check_signature
from .validation import check_size
from .validation import id_token_sign

__all__ = ["FAILED", "PASSED", "SKIPPED", "Explanation", "Step", "explain"]

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"

#: Reasons that depend only on when the token is presented.
TIME_REASONS = frozenset({"token.expired", "token.not_yet_valid", "token.max_age"})


@dataclass(frozen=True)
class Step:
    """One check: its name, ``passed``/``failed``/``skipped``, and what it found."""

    name: str
    status: str
    detail: str
    #: The reason code of a failed check.
    reason: str | None = None


@dataclass(frozen=True)
class Explanation:
    """What :func:`explain` found.

    ``header`` and ``claims`` are the token's own, as sent: they are not trusted unless
    :attr:`accepted`.
    """

    steps: tuple[Step, ...]
    header: Mapping[str, Any] | None
    claims: Mapping[str, Any] | None
    #: The first failure, exactly the error a request would get; ``None`` if accepted.
    error: ClaimGuardError | None
    #: The token's roles, scopes and permissions, read as this app reads them (from
    #: unverified claims when the token is refused).
    token: VerifiedToken | None
    #: Plain-words hints for the usual mistakes (an ID token, roles under another name).
    hints: tuple[str, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str | None:
        """The first failure's reason code."""
        return None if self.error is None else self.error.reason

    @property
    def fix(self) -> str | None:
        """What to change for the first failure, from the reason table."""
        if self.error is None:
            return None
        known = REASONS.get(self.error.reason)
        return known.fix if known is not None else None

    @property
    def refused_only_for_time(self) -> bool:
        """Every failed check is about when the token is used (expired, not yet valid)."""
        failed = [step for step in self.steps if step.status == FAILED]
        return bool(failed) and all(step.reason in TIME_REASONS for step in failed)


class _Run:
    """Collects steps; the first failure is the verdict."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.error: ClaimGuardError | None = None

    def check(self, name: str, action: Callable[[], str]) -> bool:
        try:
            detail = action()
        except ClaimGuardError as exc:
            self.fail(name, exc)
            return False
        except Exception as exc:  # as validate() does: an unforeseen input is a refusal
            self.fail(
                name,
                InvalidTokenError(
                    reason="token.malformed",
                    detail=f"unexpected {type(exc).__name__} while validating",
                ),
            )
            return False
        self.steps.append(Step(name, PASSED, detail))
        return True

    def fail(self, name: str, error: ClaimGuardError) -> None:
        self.steps.append(Step(name, FAILED, error.detail or str(error), error.reason))
        if self.error is None:
            self.error = error

    def skip(self, name: str, why: str) -> None:
        self.steps.append(Step(name, SKIPPED, why))


def explain(validator: TokenValidator, token: str, *, now: float | None = None) -> Explanation:
    """Run every check ``validator`` makes on ``token``, and say how each went.

    The key lookup is the real one: it may fetch the issuer's key set, as a request
    would. The verified-token cache is neither read nor filled.

    :param now: the time to judge ``exp``/``nbf``/``iat`` at (POSIX seconds); the
        validator's clock by default.
    """
    at = validator._clock() if now is None else now
    run = _Run()
    token = token.strip() if isinstance(token, str) else ""
    if not run.check("size", lambda: _size(token)):
        return _done(validator, run, None)
    parsed: list[ParsedToken] = []
    if not run.check("shape", lambda: _shape(token, parsed)):
        return _done(validator, run, None)
    jws = parsed[0]
    alg_ok = run.check("algorithm", lambda: _algorithm(validator, jws.header))
    kid_ok = run.check("key id", lambda: _kid(validator, jws.header))
    run.check("header", lambda: _header_params(validator, jws.header))
    run.check("type", lambda: _typ(validator, jws.header))
    issuer_ok = run.check("issuer", lambda: _issuer(validator, jws.payload))
    keys: list[VerificationKey] = []
    if not issuer_ok:
        run.skip("key", "needs a configured issuer, whose key set holds the key")
    elif not kid_ok:
        run.skip("key", "needs a well-formed kid")
    else:
        run.check("key", lambda: _key(validator, jws, keys))
    if not keys:
        run.skip("signature", "needs the key")
    elif not alg_ok:
        run.skip("signature", "needs an allowed algorithm")
    else:
        run.check("signature", lambda: _signature(jws, keys[0]))
    claims = jws.payload
    run.check("audience", lambda: _audience(validator, claims))
    run.check("subject", lambda: _subject(claims))
    run.check("lifetime", lambda: _lifetime(validator, claims, at))
    run.check("client", lambda: _client(validator, claims))
    run.check("binding", lambda: _binding(validator, claims))
    return _done(validator, run, jws)


def _done(validator: TokenValidator, run: _Run, jws: ParsedToken | None) -> Explanation:
    token = None
    hints: list[str] = []
    if jws is not None:
        token = VerifiedToken.from_payload(dict(jws.payload), jws.header, "", "", validator.rules)
        hints.extend(_hints(validator, jws.payload))
    return Explanation(
        steps=tuple(run.steps),
        header=None if jws is None else jws.header,
        claims=None if jws is None else jws.payload,
        error=run.error,
        token=token,
        hints=tuple(hints),
    )


# -- the checks, each with the validator's own code -------------------------------------


def _size(token: str) -> str:
    check_size(token)
    return f"{len(token)} characters (at most {MAX_TOKEN_BYTES})"


def _shape(token: str, out: list[ParsedToken]) -> str:
    out.append(parse_compact(token))
    return "a signed JWT (compact JWS: header, payload, signature)"


def _algorithm(validator: TokenValidator, header: Mapping[str, Any]) -> str:
    return f"{validator._check_alg(header)}, allowed"


def _kid(validator: TokenValidator, header: Mapping[str, Any]) -> str:
    validator._check_kid(header)
    kid = header.get("kid")
    return "no kid" if kid is None else f"kid {loggable(kid)}"


def _header_params(validator: TokenValidator, header: Mapping[str, Any]) -> str:
    validator._check_header_params(header)
    return "no crit, b64, zip or cty"


def _typ(validator: TokenValidator, header: Mapping[str, Any]) -> str:
    validator._check_typ(header)
    typ = header.get("typ")
    if typ is None:
        return "no typ (allowed unless strict typing is on)"
    return f"typ {loggable(typ)}, an access token"


def _issuer(validator: TokenValidator, claims: Mapping[str, Any]) -> str:
    issuer = validator._issuer_of(claims)
    return f"{issuer} is trusted"


def _key(validator: TokenValidator, jws: ParsedToken, out: list[VerificationKey]) -> str:
    issuer = validator._issuer_of(jws.payload)
    key = validator.issuers[issuer].get_key(jws.header.get("kid"))
    alg = jws.header.get("alg")
    if isinstance(alg, str) and alg in validator.algorithms:
        check_fit(key, alg)
    out.append(key)
    return f"key {loggable(key.kid)} ({key.kty}) found in the issuer's key set"


def _signature(jws: ParsedToken, key: VerificationKey) -> str:
    check_signature(jws, str(jws.header["alg"]), key)
    return f"verified with key {loggable(key.kid)}"


def _audience(validator: TokenValidator, claims: Mapping[str, Any]) -> str:
    validator._check_audience(claims)
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    ours = [value for value in values if value in validator.audiences]
    return f"{ours[0]} is this API's"


def _subject(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidTokenError(reason="token.claims", detail="sub is missing or not a string")
    return f"sub {loggable(sub)}"


def _lifetime(validator: TokenValidator, claims: Mapping[str, Any], now: float) -> str:
    exp, nbf, iat = validator._times(claims)
    try:
        validator._check_window(exp, nbf, iat, now)
    except InvalidTokenError as exc:
        when = "ago" if exp <= now else "from now"
        raise type(exc)(
            reason=exc.reason, detail=f"{exc.detail} (exp is {_ago(exp - now)} {when})"
        ) from None
    return f"issued {_ago(now - iat)} ago, expires in {_ago(exp - now)}"


def _client(validator: TokenValidator, claims: Mapping[str, Any]) -> str:
    validator._check_client(claims)
    if validator.allowed_clients is None:
        return "any client (no allowed-clients list)"
    return f"client {loggable(claims.get('client_id', claims.get('azp')))} is allowed"


def _binding(validator: TokenValidator, claims: Mapping[str, Any]) -> str:
    validator._check_binding(claims)
    return "a bearer token (no cnf)"


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{int(seconds)} s"


def _hints(validator: TokenValidator, claims: Mapping[str, Any]) -> list[str]:
    hints = []
    sign = id_token_sign(claims)
    if sign is not None:
        hints.append(
            f"This looks like an ID token (it has {sign}). Send the access token, "
            "requested with this API's identifier as audience."
        )
    configured = list(validator.rules.roles_claims)
    if configured and not validator.rules.roles_claim_present(claims):
        elsewhere = [
            name
            for name in claims
            if name not in configured
            and (name == "roles" or name.rstrip("/").endswith(("/roles", "/role")))
        ]
        if elsewhere:
            hints.append(
                f"No roles under {', '.join(configured)}, but the token carries roles "
                f"under {', '.join(loggable(name) for name in elsewhere[:3])}: set "
                "CLAIMGUARD_ROLES_CLAIM to the claim your Post-Login Action writes."
            )
        else:
            hints.append(
                f"No roles claim ({', '.join(configured)}): does the Post-Login Action set "
                "it on the access token (api.accessToken.setCustomClaim), and does the "
                "user have roles?"
            )
    return hints
