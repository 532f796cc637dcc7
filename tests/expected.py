"""What the tests expect of claimguard, shared by several suites: the public sentences of
the refusals they check (looked up by reason code in claimguard's one table, whose every
entry tests/test_reasons.py pins), a refusal helper, and a clock the test moves by hand
(the ``clock=`` seams of ``TokenValidator`` and ``JWKSCache``)."""

from __future__ import annotations

from typing import Any

import pytest

from claimguard import InvalidTokenError
from claimguard import TokenValidator
from claimguard.reasons import sentence
from claimguard.testing import ForgedIssuer

# The refusals the suites check, each by the reason code that produces it.
TOO_LARGE, MALFORMED, TYPE = map(sentence, ("token.too_large", "token.malformed", "token.type"))
ALGORITHM, ISSUER = map(sentence, ("token.algorithm", "token.issuer"))
UNKNOWN_KEY, SIGNATURE = map(sentence, ("key.unknown_kid", "token.signature"))
CLAIMS, AUDIENCE_MISMATCH = map(sentence, ("token.claims", "token.audience"))
EXPIRED, NOT_YET = map(sentence, ("token.expired", "token.not_yet_valid"))
CLIENT, BOUND = map(sentence, ("token.client", "token.bound"))

#: A fixed "now" (2027-01-15) for wall-clock tests.
T0 = 1_800_000_000.0


class ManualClock:
    """A clock that moves only when the test says so (wall or monotonic alike)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def refuse(validator: TokenValidator, token: str, description: str) -> InvalidTokenError:
    """Validate, expect an InvalidTokenError with this fixed description, return it."""
    with pytest.raises(InvalidTokenError) as info:
        validator.validate(token)
    assert info.value.description == description, info.value.detail
    return info.value


def at(issuer: ForgedIssuer, **claims: Any) -> str:
    """A token minted for the clock-seam time T0 (iat = nbf-less T0, exp = T0 + 600)."""
    values: dict[str, Any] = {"iat": int(T0), "exp": int(T0) + 600}
    values.update(claims)
    return issuer.mint(**values)
