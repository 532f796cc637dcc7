"""Stateless DPoP server nonces (RFC 9449 §8, §9): a MAC of the time step, accepted for
the current and the previous step, checked in constant time, with nothing stored."""

from __future__ import annotations

import base64
import hmac
import math
import re
from typing import Any

import pytest

from claimguard import dpop_nonce
from claimguard.dpop_nonce import MIN_SECRET_BYTES
from claimguard.dpop_nonce import DPoPNonces
from claimguard.errors import ConfigurationError

SECRET = bytes(range(32))
STEP = 60.0
T = 1_800_000_000.0  # a multiple of 60: the start of a step


@pytest.fixture
def nonces() -> DPoPNonces:
    return DPoPNonces(SECRET, step=STEP)


def test_a_nonce_is_accepted_in_its_step_and_the_next(nonces: DPoPNonces) -> None:
    nonce = nonces.issue(T)
    assert nonces.check(nonce, T)
    assert nonces.check(nonce, T + 59.9)
    assert nonces.check(nonce, T + 60)
    assert nonces.check(nonce, T + 119.9)


def test_a_nonce_expires_after_the_next_step(nonces: DPoPNonces) -> None:
    nonce = nonces.issue(T + 59)
    assert not nonces.check(nonce, T + 120)
    assert not nonces.check(nonce, T + 3600)


def test_a_nonce_from_the_future_is_refused(nonces: DPoPNonces) -> None:
    assert not nonces.check(nonces.issue(T + 60), T)


def test_one_step_one_nonce(nonces: DPoPNonces) -> None:
    assert nonces.issue(T) == nonces.issue(T + 59.99)
    assert nonces.issue(T) != nonces.issue(T + 60)


def test_processes_sharing_the_secret_agree() -> None:
    """No state: a second object (another process) accepts the first one's nonces."""
    assert DPoPNonces(SECRET).check(DPoPNonces(SECRET).issue(T), T + 30)


def test_another_secret_gives_other_nonces(nonces: DPoPNonces) -> None:
    other = DPoPNonces(bytes(32))
    assert not other.check(nonces.issue(T), T)
    assert not nonces.check(other.issue(T), T)


def test_valid_until_says_when_a_nonce_stops_working(nonces: DPoPNonces) -> None:
    nonce = nonces.issue(T + 10)
    assert nonces.valid_until(nonce, T + 10) == T + 120
    assert nonces.valid_until(nonce, T + 70) == T + 120
    assert nonces.valid_until(nonce, T + 130) is None


def test_a_nonce_is_nqchar_text(nonces: DPoPNonces) -> None:
    # RFC 9449 §8.1: nonce = 1*NQCHAR; base64url is within it.
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", nonces.issue(T))


def test_a_nonce_is_the_hmac_sha256_of_the_step(nonces: DPoPNonces) -> None:
    """A nonce is unforgeable without the secret: it is HMAC-SHA256 keyed with it."""
    step = math.floor(T / STEP)
    mac = hmac.new(SECRET, b"claimguard-dpop-nonce:" + str(step).encode(), "sha256").digest()
    assert nonces.issue(T) == base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@pytest.mark.parametrize("value", [None, 7, b"abc", "", "x" * 43, "\u00e9" * 43, ["a"]])
def test_anything_else_is_refused(nonces: DPoPNonces, value: Any) -> None:
    assert not nonces.check(value, T)


def test_a_changed_character_is_refused(nonces: DPoPNonces) -> None:
    nonce = nonces.issue(T)
    changed = ("B" if nonce[0] == "A" else "A") + nonce[1:]
    assert not nonces.check(changed, T)
    assert not nonces.check(nonce + "A", T)
    assert not nonces.check(nonce[:-1], T)


def test_both_candidates_are_compared_in_constant_time(
    nonces: DPoPNonces, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking always computes and compares both steps' MACs with compare_digest, so
    timing tells neither how close a guess was nor which step matched."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(dpop_nonce.hmac, "compare_digest", spy)
    for nonce in (nonces.issue(T), nonces.issue(T - 60), "wrong"):
        compared.clear()
        nonces.check(nonce, T)
        assert len(compared) == 2


@pytest.mark.parametrize("secret", [b"", b"x" * (MIN_SECRET_BYTES - 1), "s" * 64, None])
def test_a_short_or_textual_secret_is_refused(secret: Any) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 random bytes"):
        DPoPNonces(secret)


@pytest.mark.parametrize("step", [0, -60, math.inf, math.nan, "60", True])
def test_a_step_that_cannot_work_is_refused(step: Any) -> None:
    with pytest.raises(ConfigurationError, match="step"):
        DPoPNonces(SECRET, step=step)


def test_the_step_is_configurable() -> None:
    short = DPoPNonces(SECRET, step=10)
    nonce = short.issue(T)
    assert short.check(nonce, T + 19)
    assert not short.check(nonce, T + 20)
