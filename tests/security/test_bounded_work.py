"""Bounded work per request: the most expensive inputs an attacker can fit under the
8 KiB cap (wide or deep JSON, long numbers, escapes, huge signatures, thousands of roles)
each cost milliseconds, accepted or refused, and never more than a linear scan.

The bound (25 ms, best of three) is two orders of magnitude above the real cost, so it
is not flaky on a slow machine, yet catches any quadratic or exponential path: those
cost seconds at these sizes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

import pytest

from claimguard import TokenValidator
from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.bearer import parse_authorization
from claimguard.errors import ClaimGuardError
from claimguard.testing import ForgedIssuer

from .attacks import b64

BOUND = 0.025


@pytest.fixture(scope="module")
def validator(issuer: ForgedIssuer) -> TokenValidator:
    keys = issuer.key_set(ttl=3600, cooldown=3600)
    assert keys.refresh()
    return issuer.validator(key_set=keys, token_cache_size=0)


def _fill(issuer: ForgedIssuer, member: Callable[[int], str], budget: int = 5600) -> str:
    """A genuine token whose payload gets extra raw JSON members until ``budget`` bytes."""
    base = json.dumps(issuer.claims(roles=["viewer"]))[:-1]
    members: list[str] = []
    index = 0
    size = len(base)
    while True:
        candidate = member(index)
        if members and size + len(candidate) + 2 > budget:
            break
        members.append(candidate)
        size += len(candidate) + 2
        index += 1
    payload = (base + ", " + ", ".join(members) + "}").encode()
    token = issuer.sign({"alg": "RS256", "kid": issuer.kid}, payload)
    assert len(token) <= MAX_TOKEN_BYTES, len(token)
    return token


def _huge_signature(issuer: ForgedIssuer) -> str:
    head, body, _ = issuer.mint().split(".")
    signature = b64(bytes([1]) * 5000)
    return f"{head}.{body}.{signature}"


WORST: dict[str, Callable[[ForgedIssuer], str]] = {
    "thousand-small-members": lambda issuer: _fill(issuer, lambda i: f'"m{i}": {i}'),
    "unicode-escapes": lambda issuer: _fill(issuer, lambda i: f'"e{i}": "' + "\\u00e9" * 40 + '"'),
    "surrogate-pair-escapes": lambda issuer: _fill(
        issuer, lambda i: f'"s{i}": "' + "\\ud83d\\ude00" * 20 + '"'
    ),
    "4000-digit-integer": lambda issuer: _fill(issuer, lambda i: f'"n{i}": {"7" * 4000}', 4500),
    "5000-digit-float": lambda issuer: _fill(issuer, lambda i: f'"f{i}": 1.{"0" * 5000}', 5200),
    "thousands-of-roles": lambda issuer: issuer.mint(roles=[f"r{i}" for i in range(600)]),
    "thousands-of-scopes": lambda issuer: issuer.mint(scope=" ".join(f"s{i}" for i in range(800))),
    "wide-arrays": lambda issuer: _fill(issuer, lambda i: f'"a{i}": [' + "0," * 200 + "0]"),
    "deep-at-the-limit": lambda issuer: _fill(
        issuer, lambda i: f'"d{i}": ' + "[" * 31 + "]" * 31, 5000
    ),
    "brackets-in-strings": lambda issuer: _fill(issuer, lambda i: f'"b{i}": "' + "[{" * 60 + '"'),
    "huge-signature": _huge_signature,
    # Unsigned: the depth pre-scan runs before any signature check, on any input.
    "depth-scan-many-brackets-unsigned": lambda issuer: (
        b64(b'{"alg":"RS256"}') + "." + b64(b"[" + b"[]," * 1990 + b"[]]") + ".AAAA"
    ),
    "depth-scan-many-strings-unsigned": lambda issuer: (
        b64(b'{"alg":"RS256"}') + "." + b64(b"[" + b'["",""],' * 740 + b"[]]") + ".AAAA"
    ),
    "8192-dots": lambda issuer: "." * MAX_TOKEN_BYTES,
    "8192-base64url": lambda issuer: "A" * MAX_TOKEN_BYTES,
    "three-parts-of-garbage": lambda issuer: ".".join(["A" * 2730] * 3),
}


@pytest.mark.parametrize("case", list(WORST))
def test_worst_case_token_costs_milliseconds(
    validator: TokenValidator, issuer: ForgedIssuer, case: str
) -> None:
    token = WORST[case](issuer)
    assert len(token) <= MAX_TOKEN_BYTES
    costs = []
    for _ in range(3):
        started = time.perf_counter()
        # Accepted or refused: only the cost matters here.
        with contextlib.suppress(ClaimGuardError):
            validator.validate(token)
        costs.append(time.perf_counter() - started)
    assert min(costs) < BOUND, f"{case}: {min(costs) * 1000:.1f} ms"


HEADERS = {
    "40-kb-bearer": "Bearer " + "a" * 40_960,
    "40-kb-of-commas": "Bearer a" + ", Bearer a" * 4000,
    "40-kb-of-spaces": "Bearer" + " " * 40_960 + "a",
    "40-kb-scheme": "B" * 40_960 + " a",
    "40-kb-of-equals": "Bearer a" + "=" * 40_960 + "b",
}


@pytest.mark.parametrize("case", list(HEADERS))
def test_worst_case_header_costs_milliseconds(case: str) -> None:
    value = HEADERS[case]
    costs = []
    for _ in range(3):
        started = time.perf_counter()
        with contextlib.suppress(ClaimGuardError):
            parse_authorization(value)
        costs.append(time.perf_counter() - started)
    assert min(costs) < BOUND, f"{case}: {min(costs) * 1000:.1f} ms"
