"""The verified-token cache (claimguard.token_cache): a repeated token is served from it,
while every check that depends on time or on the key set still runs on each hit."""

from __future__ import annotations

from typing import Any

import pytest

import claimguard.validation as validation_module
from claimguard.testing import ForgedIssuer
from claimguard.token_cache import CachedToken
from expected import AUDIENCE_MISMATCH as AUDIENCE
from expected import EXPIRED
from expected import NOT_YET
from expected import T0
from expected import UNKNOWN_KEY
from expected import ManualClock as Clock
from expected import at
from expected import refuse


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts full validations: every call of the compact-JWS parser."""
    calls: list[str] = []
    real = validation_module.parse_compact

    def counting(token: str) -> Any:
        calls.append(token)
        return real(token)

    monkeypatch.setattr(validation_module, "parse_compact", counting)
    return calls


def test_repeated_token_is_served_from_the_cache(issuer: ForgedIssuer, parses: list[str]) -> None:
    """A repeated token is not parsed and verified again."""
    validator = issuer.validator()
    token = issuer.mint(roles=["viewer"])
    first = validator.validate(token)
    assert validator.validate(token) is first
    assert len(parses) == 1


def test_cache_size_zero_turns_the_cache_off(issuer: ForgedIssuer, parses: list[str]) -> None:
    """CLAIMGUARD_TOKEN_CACHE_SIZE 0 verifies every time."""
    validator = issuer.validator(token_cache_size=0)
    token = issuer.mint()
    first = validator.validate(token)
    second = validator.validate(token)
    assert first is not second
    assert first.claims == second.claims
    assert len(parses) == 2


def test_cached_token_still_expires(issuer: ForgedIssuer, clock: Clock, parses: list[str]) -> None:
    """A hit counts only while exp passes *now*."""
    validator = issuer.validator(clock=clock)
    token = at(issuer, exp=int(T0) + 60)
    assert validator.validate(token)
    clock.now = T0 + 30
    assert validator.validate(token)
    assert len(parses) == 1  # served from the cache so far
    clock.now = T0 + 60 + 5
    refuse(validator, token, EXPIRED)
    assert validator._cache is not None
    assert len(validator._cache) == 0  # an expired entry is dropped, not kept around
    refuse(validator, token, EXPIRED)


def test_cached_token_still_meets_max_age(issuer: ForgedIssuer, clock: Clock) -> None:
    """The maximum age is checked against now on a cache hit as well."""
    validator = issuer.validator(clock=clock, max_token_age=60)
    token = at(issuer, iat=int(T0))
    assert validator.validate(token)
    clock.now = T0 + 66
    refuse(validator, token, EXPIRED)


def test_cached_token_whose_key_left_the_set_is_refused(forged_issuer: ForgedIssuer) -> None:
    """A hit counts only while its key is still in the issuer's set."""
    keys = forged_issuer.key_set()
    validator = forged_issuer.validator(key_set=keys)
    token = forged_issuer.mint()
    assert validator.validate(token)
    forged_issuer.rotate()
    forged_issuer.retire()
    assert keys.refresh()
    refuse(validator, token, UNKNOWN_KEY)
    assert validator.validate(forged_issuer.mint())


def test_cache_entry_whose_key_left_is_refused_even_if_put_late(
    forged_issuer: ForgedIssuer,
) -> None:
    """A request that verified with the old set may cache after the refresh: still refused."""
    keys = forged_issuer.key_set()
    validator = forged_issuer.validator(key_set=keys)
    token = forged_issuer.mint()
    verified = validator.validate(token)
    forged_issuer.rotate()
    forged_issuer.retire()
    assert keys.refresh()
    # Simulate the race: the entry lands in the cache after the refresh dropped it.
    assert validator._cache is not None
    entry = CachedToken(verified, keys, verified.claims["exp"], None, verified.claims["iat"])
    validator._cache.put(token, entry)
    refuse(validator, token, UNKNOWN_KEY)


def test_refresh_drops_entries_whose_key_left(forged_issuer: ForgedIssuer) -> None:
    """A successful key-set refresh drops the entries whose key left."""
    keys = forged_issuer.key_set()
    validator = forged_issuer.validator(key_set=keys)
    validator.validate(forged_issuer.mint())
    assert validator._cache is not None
    assert len(validator._cache) == 1
    new_key = forged_issuer.rotate()
    assert keys.refresh()
    assert len(validator._cache) == 1  # the old key is still published
    validator.validate(forged_issuer.mint(key=new_key))
    forged_issuer.retire()
    assert keys.refresh()
    assert len(validator._cache) == 1  # only the entry of the current key is left


def test_a_str_subclass_cannot_match_another_tokens_entry(
    issuer: ForgedIssuer, parses: list[str]
) -> None:
    """The cache compares token strings: a str subclass that claims equality with
    everything, and copies a cached token's hash, still gets no other token's entry."""
    validator = issuer.validator()
    cached = issuer.mint()
    validator.validate(cached)

    class Impostor(str):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return hash(cached)

    impostor = Impostor(issuer.mint(aud="https://other.example"))
    refuse(validator, impostor, AUDIENCE)
    assert len(parses) == 2  # parsed and checked, not served from the cached entry


def test_failures_are_never_cached(issuer: ForgedIssuer, parses: list[str]) -> None:
    """An invalid token is checked (and refused) again every time."""
    validator = issuer.validator()
    token = issuer.mint(aud="https://other.example")
    refuse(validator, token, AUDIENCE)
    refuse(validator, token, AUDIENCE)
    assert len(parses) == 2


def test_a_refusal_does_not_stick(issuer: ForgedIssuer, clock: Clock) -> None:
    """A token refused as not yet valid is accepted once its time has come."""
    validator = issuer.validator(clock=clock)
    token = at(issuer, nbf=T0 + 60)
    refuse(validator, token, NOT_YET)
    clock.now = T0 + 60
    assert validator.validate(token)


def test_caches_are_per_validator(issuer: ForgedIssuer) -> None:
    """One cache per validator, never shared between apps."""
    token = issuer.mint()
    issuer.validator().validate(token)
    other = issuer.validator(audiences="https://other-api.example")
    refuse(other, token, AUDIENCE)


# -- fork safety -----------------------------------------------------------------------


def test_token_cache_lock_is_recreated_in_a_forked_child(forged_issuer: ForgedIssuer) -> None:
    """Locks are re-created after a fork (gunicorn --preload). A token-cache
    lock held by another thread at fork time must not deadlock the child."""
    import os
    import signal

    validator = forged_issuer.validator()
    token = forged_issuer.mint()
    validator.validate(token)
    assert validator._cache is not None
    validator._cache._lock.acquire()  # as if a listener were pruning during the fork
    try:
        pid = os.fork()
        if pid == 0:  # the child: validate (a cache hit) under a 5 s alarm
            signal.alarm(5)
            try:
                validator.validate(token)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    finally:
        validator._cache._lock.release()
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
