"""Replay stores (RFC 9449 §11.1): a proof's jti is accepted once while it could be
replayed, whatever happens: a full store, many threads, several processes, an outage.

The Redis tests run a real ``redis-server`` on 127.0.0.1 (tests/redis_server.py). They
are skipped when it or redis-py is missing, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import random
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from claimguard.dpop import DPoPVerifier
from claimguard.dpop import replay_key
from claimguard.dpop_errors import DPoPStoreUnavailableError
from claimguard.errors import ConfigurationError
from claimguard.jws import parse_compact
from claimguard.replay import MemoryReplayStore
from claimguard.replay import RedisReplayStore
from claimguard.replay import ReplayStore
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof
from expected import ManualClock
from redis_server import RedisServer
from redis_server import free_port
from redis_server import require_redis

URL = "https://api.example.test/orders"
THREADS = 8


# -- MemoryReplayStore -----------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(0.0)


def test_a_key_is_claimed_once(clock: ManualClock) -> None:
    store = MemoryReplayStore(clock=clock)
    assert store.claim("a", 10) is True
    assert store.claim("a", 10) is False
    assert store.claim("b", 10) is True


def test_a_key_is_forgotten_when_its_ttl_ends(clock: ManualClock) -> None:
    store = MemoryReplayStore(clock=clock)
    store.claim("a", 10)
    clock.advance(9.99)
    assert store.claim("a", 10) is False
    clock.advance(0.01)
    assert store.claim("a", 10) is True


def test_a_replayed_claim_does_not_extend_the_ttl(clock: ManualClock) -> None:
    store = MemoryReplayStore(clock=clock)
    store.claim("a", 10)
    clock.advance(5)
    assert store.claim("a", 60) is False
    clock.advance(5)
    assert store.claim("a", 10) is True


def test_expired_keys_are_dropped(clock: ManualClock) -> None:
    store = MemoryReplayStore(clock=clock)
    for index in range(100):
        store.claim(f"k{index}", 1 + index % 3)
    assert len(store) == 100
    clock.advance(3)
    store.claim("new", 1)
    assert len(store) == 1


def test_a_full_store_refuses_new_keys_rather_than_evict_live_ones(clock: ManualClock) -> None:
    store = MemoryReplayStore(3, clock=clock)
    for key in "abc":
        assert store.claim(key, 10)
    with pytest.raises(DPoPStoreUnavailableError) as info:
        store.claim("d", 10)
    assert info.value.status_code == 503
    assert "full" in info.value.detail
    # Nothing was evicted: every live key is still refused, and the bound holds.
    assert [store.claim(key, 10) for key in "abc"] == [False, False, False]
    assert len(store) == 3


def test_a_full_store_recovers_as_keys_expire(clock: ManualClock) -> None:
    store = MemoryReplayStore(2, clock=clock)
    store.claim("a", 5)
    store.claim("b", 10)
    with pytest.raises(DPoPStoreUnavailableError):
        store.claim("c", 10)
    clock.advance(5)
    assert store.claim("c", 10) is True
    assert len(store) == 2


def test_the_default_bound() -> None:
    store = MemoryReplayStore()
    assert store.max_entries == 100_000
    assert store.max_per_client == 12_500


def test_one_client_cannot_fill_the_store_for_everyone(clock: ManualClock) -> None:
    """A client (one proof key) flooding proofs reaches its share, and only it is
    refused: another client's proofs are still remembered and checked."""
    store = MemoryReplayStore(100, max_per_client=3, clock=clock)
    flooder, victim = "dpop:FLOODFLOODFLOOD:", "dpop:VICTIMVICTIMVIC:"
    for index in range(3):
        assert store.claim(f"{flooder}{index}", 10)
    with pytest.raises(DPoPStoreUnavailableError) as info:
        store.claim(f"{flooder}3", 10)
    assert "max_per_client" in info.value.detail
    assert store.claim(f"{victim}0", 10) is True
    assert store.claim(f"{victim}0", 10) is False  # still a replay for the victim
    clock.advance(10)  # the flooder's proofs expire: its share frees up
    assert store.claim(f"{flooder}3", 10) is True


def test_proof_keys_carry_their_client(client_key: DPoPKey) -> None:
    from claimguard.replay import _client_of

    first, second = replay_key(client_key.thumbprint, "a"), replay_key(client_key.thumbprint, "b")
    other = replay_key(DPoPKey.generate().thumbprint, "a")
    assert _client_of(first) == _client_of(second) != ""
    assert _client_of(other) != _client_of(first)
    assert _client_of("plain-key") == _client_of("dpop:nohash") == ""


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True, "10", None])
def test_a_ttl_that_is_no_whole_positive_number_is_refused(ttl: Any) -> None:
    with pytest.raises(ValueError, match="ttl"):
        MemoryReplayStore().claim("a", ttl)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_a_bound_that_is_no_positive_integer_is_refused(size: Any) -> None:
    with pytest.raises(ConfigurationError):
        MemoryReplayStore(size)


def _race(stores: list[Any], keys: list[str]) -> list[str]:
    """Claim every key from every thread at once (a bounded number of threads, each
    through the stores in turn); return the keys each successful claim won."""
    won: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS, timeout=10)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        order = list(keys)
        random.Random(index).shuffle(order)
        store = stores[index % len(stores)]
        try:
            start.wait()
            mine = [key for key in order if store.claim(key, 30)]
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
            return
        with lock:
            won.extend(mine)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    return won


def test_each_key_is_won_by_exactly_one_thread() -> None:
    keys = [f"key-{index}" for index in range(500)]
    won = _race([MemoryReplayStore()], keys)
    assert sorted(won) == sorted(keys)


def test_the_stores_are_replay_stores() -> None:
    assert isinstance(MemoryReplayStore(), ReplayStore)


# -- with the verifier -------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer() as forged:
        yield forged


@pytest.fixture(scope="module")
def client_key() -> DPoPKey:
    return DPoPKey.generate()


def _verify(verifier: DPoPVerifier, proof: str, token: str) -> object:
    cnf = parse_compact(token).payload["cnf"]
    return verifier.verify(
        [proof], method="GET", url=URL, access_token=token, cnf=cnf, now=time.time()
    )


def test_a_full_memory_store_refuses_proofs_with_503(
    issuer: ForgedIssuer, client_key: DPoPKey
) -> None:
    verifier = DPoPVerifier(MemoryReplayStore(1))
    token = issuer.mint(dpop_key=client_key)
    _verify(verifier, make_proof(client_key, "GET", URL, access_token=token), token)
    with pytest.raises(DPoPStoreUnavailableError):
        _verify(verifier, make_proof(client_key, "GET", URL, access_token=token), token)


# -- RedisReplayStore --------------------------------------------------------------------


@pytest.fixture
def stores(redis_server: RedisServer) -> Iterator[tuple[RedisReplayStore, RedisReplayStore]]:
    """Two stores on one Redis, as two processes (or hosts) of one API would have."""
    first, second = RedisReplayStore(redis_server.url), RedisReplayStore(redis_server.url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_a_key_claimed_through_one_store_is_refused_by_the_other(
    stores: tuple[RedisReplayStore, RedisReplayStore],
) -> None:
    first, second = stores
    assert first.claim("dpop:a", 30) is True
    assert second.claim("dpop:a", 30) is False
    assert first.claim("dpop:a", 30) is False
    assert second.claim("dpop:b", 30) is True


def test_the_key_expires_with_its_ttl(stores: tuple[RedisReplayStore, RedisReplayStore]) -> None:
    first, second = stores
    first.claim("dpop:t", 30)
    assert 0 < first.client.ttl("dpop:t") <= 30
    first.claim("dpop:short", 1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not second.claim("dpop:short", 1):
        time.sleep(0.1)
    assert time.monotonic() < deadline, "the key did not expire"


def test_one_atomic_set_nx_ex_per_claim(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisReplayStore(redis_server.url)
    calls: list[tuple[Any, ...]] = []
    real = store.client.set

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(store.client, "set", spy)
    store.claim("dpop:once", 42)
    assert calls == [(("dpop:once", b"1"), {"nx": True, "ex": 42})]
    store.close()


def test_many_threads_on_two_stores_win_each_key_once(
    stores: tuple[RedisReplayStore, RedisReplayStore],
) -> None:
    keys = [f"dpop:race-{index}" for index in range(200)]
    assert sorted(_race(list(stores), keys)) == sorted(keys)


def test_an_outage_refuses_with_503_and_a_restart_recovers(
    stores: tuple[RedisReplayStore, RedisReplayStore], redis_server: RedisServer
) -> None:
    first, second = stores
    assert first.claim("dpop:before", 30) is True
    redis_server.kill()
    for store in (first, second):
        started = time.monotonic()
        with pytest.raises(DPoPStoreUnavailableError) as info:
            store.claim("dpop:during", 30)
        assert time.monotonic() - started < 1.5
        assert info.value.status_code == 503
    redis_server.start()
    deadline = time.monotonic() + 5
    while True:  # the first command after a restart may meet a stale connection
        try:
            recovered = first.claim("dpop:after", 30)
            break
        except DPoPStoreUnavailableError:
            assert time.monotonic() < deadline, "the store did not recover"
            time.sleep(0.05)
    assert recovered is True
    assert second.claim("dpop:after", 30) is False


def test_an_unreachable_redis_refuses_quickly() -> None:
    require_redis()
    store = RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(DPoPStoreUnavailableError, match="cannot be checked"):
        store.claim("dpop:x", 30)
    assert time.monotonic() - started < 1.5
    store.close()


def test_a_redis_that_never_answers_times_out_within_a_second() -> None:
    """A server that accepts connections but never replies: one 0.5 s read timeout, no
    retry, then 503."""
    require_redis()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = RedisReplayStore(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        with pytest.raises(DPoPStoreUnavailableError) as info:
            store.claim("dpop:x", 30)
        elapsed = time.monotonic() - started
        store.close()
    assert elapsed < 1.0
    assert "Timeout" in info.value.detail


def test_two_verifiers_on_one_redis_refuse_a_replay(
    stores: tuple[RedisReplayStore, RedisReplayStore],
    issuer: ForgedIssuer,
    client_key: DPoPKey,
) -> None:
    first, second = (DPoPVerifier(store) for store in stores)
    token = issuer.mint(dpop_key=client_key)
    proof = make_proof(client_key, "GET", URL, access_token=token)
    _verify(first, proof, token)
    with pytest.raises(Exception, match="already used") as info:
        _verify(second, proof, token)
    assert getattr(info.value, "reason", None) == "dpop.replay"


def test_a_client_passed_in_is_used_and_left_open(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, socket_timeout=0.5)
    store = RedisReplayStore(client)
    assert store.client is client
    assert store.claim("dpop:mine", 30) is True
    store.close()
    assert client.exists("dpop:mine") == 1
    client.close()


def test_without_redis_py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis → ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'flask-claimguard\[redis\]'"):
        RedisReplayStore("redis://127.0.0.1:1/0")


def test_the_core_does_not_import_redis() -> None:
    import subprocess

    code = "import sys, claimguard.dpop, claimguard.replay; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
