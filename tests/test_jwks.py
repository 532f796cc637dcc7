"""``JWKSCache``: fetching, caching and refreshing one issuer's signing keys.

Every HTTP request is counted where it lands: at the ``ForgedIssuer`` loopback server
(``jwks_requests``) or at the shared recording server (the ``server`` fixture, a
:class:`loopback.LoopbackServer`). Time is moved with a fake monotonic clock passed as
``clock=``; real waiting happens only where the point is real waiting (timeouts, slow
endpoints), and is kept under a second or two.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters
from urllib3.util.retry import Retry

from claimguard import fetching
from claimguard import jwks as jwks_module
from claimguard.discovery import discovery_url
from claimguard.errors import ConfigurationError
from claimguard.errors import InvalidTokenError
from claimguard.errors import KeySetUnavailableError
from claimguard.jwks import JWKSCache
from claimguard.keys import KeySet
from claimguard.testing import ForgedIssuer
from claimguard.testing.issuer import ForgedKey
from expected import ManualClock as FakeClock
from loopback import LoopbackServer
from loopback import Reply
from loopback import dribble

# -- helpers ------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A loopback server that answers per path and records every request's headers."""
    with LoopbackServer() as loopback:
        yield loopback


def jwks_body(*keys: ForgedKey) -> bytes:
    return json.dumps({"keys": [key.public_jwk() for key in keys]}).encode()


def random_kid() -> str:
    return "unknown-" + secrets.token_urlsafe(8)


def run_in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released together; each result or exception."""
    barrier = threading.Barrier(count, timeout=5)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return results


# -- construction -------------------------------------------------------------------


def test_needs_a_url_or_an_issuer() -> None:
    """A cache with nowhere to fetch from is a programming error."""
    with pytest.raises(TypeError):
        JWKSCache()


@pytest.mark.parametrize(
    "url",
    [
        "http://keys.example.com/.well-known/jwks.json",  # plain http off loopback
        "https://user:secret@keys.example.com/jwks.json",  # credentials in the URL
        "ftp://keys.example.com/jwks.json",
    ],
)
def test_unacceptable_jwks_url_is_a_configuration_error(url: str) -> None:
    """§5: JWKS URLs are https:// (http:// on loopback only) and carry no credentials."""
    with pytest.raises(ConfigurationError):
        JWKSCache(url)


def test_creating_a_cache_does_no_io(forged_issuer: ForgedIssuer) -> None:
    """Keys are fetched lazily in each worker: constructing costs no request."""
    cache = forged_issuer.key_set()
    assert forged_issuer.jwks_requests == 0
    assert cache.url == forged_issuer.jwks_url
    assert cache.status().fetches == 0


def test_for_auth0_domain_builds_the_tenant_jwks_url() -> None:
    cache = JWKSCache.for_auth0_domain("my-tenant.us.auth0.com")
    assert cache.url == "https://my-tenant.us.auth0.com/.well-known/jwks.json"


# -- single-flight ------------------------------------------------------------------


def test_cold_cache_concurrent_requests_share_one_fetch(forged_issuer: ForgedIssuer) -> None:
    """16 requests arriving together on a cold cache cost one JWKS request (no stampede)."""
    cache = forged_issuer.key_set(timeout=3)
    kid = forged_issuer.kid
    # The answer is held back a little so that every thread arrives while it is in flight.
    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=0.3):
        results = run_in_threads(16, lambda: cache.get_key(kid))
    assert forged_issuer.jwks_requests == 1
    assert all(not isinstance(result, Exception) for result in results), results
    assert {result.thumbprint for result in results} == {results[0].thumbprint}
    assert results[0].kid == kid


def test_concurrent_unknown_kids_share_one_refetch(forged_issuer: ForgedIssuer) -> None:
    """A burst of random kids arriving together triggers one refetch, not one each."""
    cache = forged_issuer.key_set(cooldown=30, timeout=3)
    cache.get_key(forged_issuer.kid)
    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=0.3):
        results = run_in_threads(16, lambda: cache.get_key(random_kid()))
    assert all(isinstance(result, InvalidTokenError) for result in results), results
    assert forged_issuer.jwks_requests == 2
    # ... and the burst armed the cooldown: the next random kid costs nothing.
    with pytest.raises(InvalidTokenError):
        cache.get_key(random_kid())
    assert forged_issuer.jwks_requests == 2


# -- unknown kid --------------------------------------------------------------------


def test_random_kid_flood_costs_one_refetch_per_cooldown(forged_issuer: ForgedIssuer) -> None:
    """Attack: a flood of tokens with random kids must not turn us into a JWKS DoS tool."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=600, cooldown=30)
    cache.get_key(forged_issuer.kid)
    assert forged_issuer.jwks_requests == 1

    for _ in range(100):
        with pytest.raises(InvalidTokenError):
            cache.get_key(random_kid())
    assert forged_issuer.jwks_requests == 2  # the first random kid refetched, no other
    assert cache.status().cooling_down

    clock.advance(29.9)
    with pytest.raises(InvalidTokenError):
        cache.get_key(random_kid())
    assert forged_issuer.jwks_requests == 2

    clock.advance(0.1)  # the cooldown has passed: one more refetch is allowed
    for _ in range(100):
        with pytest.raises(InvalidTokenError):
            cache.get_key(random_kid())
    assert forged_issuer.jwks_requests == 3
    # The real key was served throughout.
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid


def test_kid_absent_from_the_first_fetch_is_an_invalid_token(forged_issuer: ForgedIssuer) -> None:
    """§4: a kid absent from a freshly fetched set is a 401, not a 503."""
    cache = forged_issuer.key_set()
    with pytest.raises(InvalidTokenError):
        cache.get_key("never-published")
    assert forged_issuer.jwks_requests == 1


def test_key_published_after_the_first_fetch_is_accepted_on_first_sight(
    forged_issuer: ForgedIssuer,
) -> None:
    """The first fetch does not arm the unknown-kid cooldown: a rotation right after it
    costs one refetch and no failed request."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, cooldown=30)
    cache.get_key(forged_issuer.kid)
    new = forged_issuer.rotate()
    assert cache.get_key(new.kid).kid == new.kid  # same instant as the first fetch
    assert forged_issuer.jwks_requests == 2


def test_key_published_after_a_ttl_refresh_is_accepted_on_first_sight(
    forged_issuer: ForgedIssuer,
) -> None:
    """TTL refreshes do not arm the unknown-kid cooldown either."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=30)
    cache.get_key(forged_issuer.kid)
    clock.advance(10)
    cache.get_key(forged_issuer.kid)  # stale: starts the TTL refresh
    assert cache.wait_until_idle(3)
    assert forged_issuer.jwks_requests == 2
    new = forged_issuer.rotate()
    assert cache.get_key(new.kid).kid == new.kid
    assert forged_issuer.jwks_requests == 3


def test_joining_a_ttl_refresh_in_flight_does_not_arm_the_kid_cooldown(
    forged_issuer: ForgedIssuer,
) -> None:
    """A new kid that arrives while a TTL refresh is in flight may find that the refresh
    left before the issuer published it. The refresh answers 401 for it, but must not
    block the kid's own refetch for a whole cooldown."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=30, timeout=3)
    cache.get_key(forged_issuer.kid)
    new = ForgedKey.generate("RS256")
    clock.advance(10)
    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=0.5):  # the old set
        cache.get_key(forged_issuer.kid)  # starts the TTL refresh
        forged_issuer.publish(new)  # published after that refresh left
        assert cache.status().refreshing
        with pytest.raises(InvalidTokenError):
            cache.get_key(new.kid)  # joins the refresh in flight: not in its answer
    assert forged_issuer.jwks_requests == 2
    assert cache.get_key(new.kid).kid == new.kid  # its own refetch is still allowed
    assert forged_issuer.jwks_requests == 3


def test_token_without_kid_uses_the_only_key(forged_issuer: ForgedIssuer) -> None:
    """§4 step 6: a token without kid is verified only when the set has exactly one key."""
    cache = forged_issuer.key_set(cooldown=30)
    assert cache.get_key(None).kid == forged_issuer.kid
    forged_issuer.rotate()  # two keys published now
    cache.refresh()
    with pytest.raises(InvalidTokenError):
        cache.get_key(None)


def test_unknown_kid_after_a_failed_refetch_is_503_until_the_cooldown_passes(
    forged_issuer: ForgedIssuer,
) -> None:
    """§5: within the cooldown an unknown kid is answered at once: 503 if the last fetch
    failed (we cannot tell the key is bad), and the known keys keep serving."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=600, cooldown=30, timeout=1)
    cache.get_key(forged_issuer.kid)
    with forged_issuer.outage():
        with pytest.raises(KeySetUnavailableError):
            cache.get_key(random_kid())  # the refetch fails
        assert forged_issuer.jwks_requests == 2
        for _ in range(20):
            with pytest.raises(KeySetUnavailableError) as caught:
                cache.get_key(random_kid())
            assert 1 <= caught.value.retry_after <= 30
        assert forged_issuer.jwks_requests == 2
        assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid


# -- stale keys, outages and back-off ------------------------------------------------


def test_outage_serves_stale_keys_then_fails_closed_and_recovers(
    forged_issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Stale-if-error with back-off, then 503 once the set is too old, then recovery."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=5, max_stale=100, timeout=1)
    kid = forged_issuer.kid
    cache.get_key(kid)
    clock.advance(11)  # past the TTL

    with forged_issuer.outage(), caplog.at_level(logging.WARNING, logger="claimguard"):
        # The cached kid keeps serving; a background refresh is attempted and fails.
        assert cache.get_key(kid).kid == kid
        assert cache.wait_until_idle(3)
        assert forged_issuer.jwks_requests == 2
        assert "serving the last good keys" in caplog.text
        status = cache.status()
        assert status.loaded
        assert not status.fresh
        assert status.cooling_down
        assert status.last_error is not None
        assert "HTTP 503" in status.last_error

        # Back-off: no new attempt within the cooldown, however many requests come.
        for _ in range(50):
            assert cache.get_key(kid).kid == kid
        assert cache.wait_until_idle(3)
        assert forged_issuer.jwks_requests == 2

        clock.advance(5)  # the back-off has passed: one more attempt
        assert cache.get_key(kid).kid == kid
        assert cache.wait_until_idle(3)
        assert forged_issuer.jwks_requests == 3

        # Past ttl + max_stale since the last success: the set is no longer served.
        clock.advance(100)
        with pytest.raises(KeySetUnavailableError) as caught:
            cache.get_key(kid)
        assert caught.value.status_code == 503
        assert caught.value.retry_after >= 1
        assert forged_issuer.jwks_requests == 4
        # ... and that failure backs off too: answered at once, no request.
        with pytest.raises(KeySetUnavailableError) as caught:
            cache.get_key(kid)
        assert 1 <= caught.value.retry_after <= 5
        assert forged_issuer.jwks_requests == 4
        assert not cache.status().loaded

    clock.advance(5)  # the outage is over and the back-off has passed
    assert cache.get_key(kid).kid == kid
    assert forged_issuer.jwks_requests == 5
    status = cache.status()
    assert status.loaded
    assert status.fresh
    assert status.last_error is None
    assert not status.cooling_down


def test_cold_cache_outage_is_503_and_backs_off(forged_issuer: ForgedIssuer) -> None:
    """No keys at all and the issuer down: 503 with Retry-After, one attempt per cooldown."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, cooldown=5, timeout=1)
    with forged_issuer.outage():
        with pytest.raises(KeySetUnavailableError) as caught:
            cache.get_key(forged_issuer.kid)
        assert caught.value.retry_after == 5
        for _ in range(20):
            with pytest.raises(KeySetUnavailableError):
                cache.get_key(forged_issuer.kid)
        assert forged_issuer.jwks_requests == 1
        clock.advance(2)
        with pytest.raises(KeySetUnavailableError) as caught:
            cache.get_key(forged_issuer.kid)
        assert caught.value.retry_after == 3  # what is left of the back-off
        clock.advance(3)
        with pytest.raises(KeySetUnavailableError):
            cache.get_key(forged_issuer.kid)
        assert forged_issuer.jwks_requests == 2
    clock.advance(5)
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid


def test_stale_while_revalidate_does_not_wait_for_the_refresh(
    forged_issuer: ForgedIssuer,
) -> None:
    """Past the TTL a cached kid is served at once; the slow refresh runs alone."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=5, timeout=3)
    old = forged_issuer.kid
    cache.get_key(old)
    new = forged_issuer.rotate()
    forged_issuer.retire()  # the issuer now publishes only the new key
    clock.advance(10)

    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=1.5):
        started = time.perf_counter()
        assert cache.get_key(old).kid == old
        assert cache.get_key(old).kid == old  # a second request does not wait either
        assert time.perf_counter() - started < 1.0
        assert cache.status().refreshing
        assert cache.wait_until_idle(5)
    assert forged_issuer.jwks_requests == 2

    # The refresh replaced the set: the new key is there without another request ...
    assert cache.get_key(new.kid).kid == new.kid
    assert forged_issuer.jwks_requests == 2
    # ... and the retired key is gone. Its first sight may refetch once (TTL refreshes
    # do not arm the cooldown); that answer lacks it too, so it is a 401.
    with pytest.raises(InvalidTokenError):
        cache.get_key(old)
    assert forged_issuer.jwks_requests == 3
    with pytest.raises(InvalidTokenError):
        cache.get_key(old)
    assert forged_issuer.jwks_requests == 3


# -- hostile endpoints --------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(forged_issuer: ForgedIssuer, status: int) -> None:
    """Attack: a redirect could lead the fetch anywhere (an attacker's JWKS, an internal
    address). It is a failed fetch; the previous keys stay."""
    with ForgedIssuer() as elsewhere:
        cache = forged_issuer.key_set()
        kid = forged_issuer.kid
        cache.get_key(kid)
        with forged_issuer.jwks_response(status=status, headers={"Location": elsewhere.jwks_url}):
            assert not cache.refresh()
            cold = forged_issuer.key_set()
            with pytest.raises(KeySetUnavailableError):
                cold.get_key(elsewhere.kid)
        assert elsewhere.jwks_requests == 0
        assert forged_issuer.jwks_requests == 3
        last_error = cache.status().last_error
        assert last_error is not None
        assert "redirect not followed" in last_error
        assert cache.get_key(kid).kid == kid  # previous keys kept
        # The attacker's kid is not found; the last fetch failed, so within the back-off
        # that is a 503 at once, without another request.
        with pytest.raises(KeySetUnavailableError):
            cache.get_key(elsewhere.kid)
        assert forged_issuer.jwks_requests == 3
        assert elsewhere.jwks_requests == 0


def padded_jwks(key: ForgedKey, size: int) -> bytes:
    """A valid JWK Set document of exactly ``size`` bytes (JSON whitespace as padding)."""
    body = jwks_body(key)
    assert len(body) <= size
    return body + b" " * (size - len(body))


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "until-close"])
def test_body_at_the_size_limit_is_accepted_one_byte_more_is_not(
    server: LoopbackServer, content_length: bool
) -> None:
    """The cap is inclusive: exactly max_bytes of valid JSON is a good answer, one byte
    more is not, whether the size is declared up front or only known at the end."""
    limit = 8192
    key = ForgedKey.generate("ES256")
    at_limit = server.route(
        "/at", Reply(padded_jwks(key, limit), content_length=content_length, chunk=1000)
    )
    over = server.route(
        "/over", Reply(padded_jwks(key, limit + 1), content_length=content_length, chunk=1000)
    )
    assert JWKSCache(at_limit, max_bytes=limit).get_key(key.kid).kid == key.kid
    cache = JWKSCache(over, max_bytes=limit)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    last_error = cache.status().last_error
    assert last_error is not None
    assert "exceeds 8192" in last_error


def test_oversized_body_is_refused_from_its_content_length(forged_issuer: ForgedIssuer) -> None:
    """Attack: a huge key set. A truthful Content-Length over the cap is refused before
    any of the body is read; the previous keys stay."""
    limit = 8192
    key = forged_issuer.current_key
    cache = forged_issuer.key_set(max_bytes=limit)
    cache.get_key(key.kid)
    with forged_issuer.jwks_response(padded_jwks(key, 200_000)):
        assert not cache.refresh()
    last_error = cache.status().last_error
    assert last_error is not None
    assert "body of 200000 bytes exceeds 8192" in last_error
    assert cache.get_key(key.kid).kid == key.kid


def test_oversized_body_without_content_length_is_cut_at_the_cap(
    server: LoopbackServer,
) -> None:
    """Attack: a huge body with no Content-Length (read until close). Reading stops past
    the cap even though the document would be a valid key set."""
    key = ForgedKey.generate("ES256")
    url = server.route("/jwks", Reply(padded_jwks(key, 300_000), content_length=False))
    cache = JWKSCache(url, max_bytes=65536, timeout=2)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    last_error = cache.status().last_error
    assert last_error is not None
    assert "body exceeds 65536 bytes" in last_error
    # The same document under the cap is fine: the cap, not the framing, refused it.
    url = server.route("/small", Reply(padded_jwks(key, 60_000), content_length=False))
    assert JWKSCache(url, max_bytes=65536).get_key(key.kid).kid == key.kid


def test_gzip_body_is_decoded_and_the_cap_applies_after_decoding(
    server: LoopbackServer,
) -> None:
    """Attack: a compression bomb. A few KiB of gzip that inflate to megabytes are cut at
    the cap on the decoded bytes; an honest gzip answer is decoded and accepted."""
    key = ForgedKey.generate("ES256")
    gzip_headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    honest = server.route("/honest", Reply(gzip.compress(jwks_body(key)), headers=gzip_headers))
    assert JWKSCache(honest).get_key(key.kid).kid == key.kid

    bomb = gzip.compress(padded_jwks(key, 20_000_000))
    assert len(bomb) < 65536  # small on the wire: only the decoded size can refuse it
    url = server.route("/bomb", Reply(bomb, headers=gzip_headers))
    cache = JWKSCache(url, max_bytes=65536, timeout=2)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    last_error = cache.status().last_error
    assert last_error is not None
    assert "body exceeds 65536 bytes" in last_error


def test_slow_endpoint_fails_within_the_timeout(forged_issuer: ForgedIssuer) -> None:
    """A hung issuer costs each request at most ``timeout``, waiters included."""
    cache = forged_issuer.key_set(timeout=0.3)
    kid = forged_issuer.kid
    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=2.0):
        started = time.perf_counter()
        with pytest.raises(KeySetUnavailableError):
            cache.get_key(kid)
        elapsed = time.perf_counter() - started
        assert 0.25 <= elapsed < 1.0
        assert cache.wait_until_idle(2)
        assert cache.status().last_error is not None
        # Concurrent waiters on a slow fetch are bounded the same way.
        slow = forged_issuer.key_set(timeout=0.3)
        started = time.perf_counter()
        results = run_in_threads(8, lambda: slow.get_key(kid))
        assert time.perf_counter() - started < 1.5
        assert all(isinstance(result, KeySetUnavailableError) for result in results)
        assert slow.wait_until_idle(2)


def test_trickled_body_is_cut_at_the_deadline(server: LoopbackServer) -> None:
    """Attack: slowloris in reverse. A body sent a byte at a time never resets the clock:
    the whole fetch (connect + read + body) has one deadline."""
    key = ForgedKey.generate("ES256")
    url = server.route("/slow", Reply(jwks_body(key), chunk=1, pause=0.02))
    cache = JWKSCache(url, timeout=0.4)
    started = time.perf_counter()
    with pytest.raises(KeySetUnavailableError):
        cache.get_key(key.kid)
    assert time.perf_counter() - started < 1.2
    assert cache.wait_until_idle(2)
    last_error = cache.status().last_error
    assert last_error is not None
    assert "not received within" in last_error


def _valid_then(issuer: ForgedIssuer, tail: str) -> bytes:
    """A valid JWK Set with an extra top-level member whose JSON text is ``tail``."""
    document = json.dumps(issuer.jwks())
    return (document[:-1] + ', "extra": ' + tail + "}").encode()


GARBAGE: dict[str, Callable[[ForgedIssuer], tuple[bytes, int]]] = {
    "not-json": lambda issuer: (b"<html>hello</html>", 200),
    "empty": lambda issuer: (b"", 200),
    "json-array": lambda issuer: (json.dumps([issuer.jwks()]).encode(), 200),
    "keys-not-a-list": lambda issuer: (b'{"keys": "x"}', 200),
    "keys-missing": lambda issuer: (b'{"kyes": []}', 200),
    # Python's json accepts these non-JSON literals unless told not to (RFC 8259 §6).
    "nan-literal": lambda issuer: (_valid_then(issuer, "NaN"), 200),
    "infinity-literal": lambda issuer: (_valid_then(issuer, "-Infinity"), 200),
    "deeply-nested": lambda issuer: (b"[" * 100_000 + b"]" * 100_000, 200),
    "deeply-nested-in-keys": lambda issuer: (
        b'{"keys": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        200,
    ),
    "invalid-utf8": lambda issuer: (json.dumps(issuer.jwks()).encode() + b"\xff", 200),
    # A good body under an error status is still an error.
    "status-404": lambda issuer: (json.dumps(issuer.jwks()).encode(), 404),
    "status-500": lambda issuer: (json.dumps(issuer.jwks()).encode(), 500),
    "status-204": lambda issuer: (b"", 204),
    "status-203": lambda issuer: (json.dumps(issuer.jwks()).encode(), 203),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_answers_are_failed_fetches(forged_issuer: ForgedIssuer, case: str) -> None:
    """Anything but a 200 with a JWK Set in strict JSON is a failed fetch: the previous
    keys stay, and a cold cache answers 503."""
    kid = forged_issuer.kid
    warm = forged_issuer.key_set()
    warm.get_key(kid)
    body, status = GARBAGE[case](forged_issuer)
    with forged_issuer.jwks_response(body, status=status):
        assert not warm.refresh()
        assert warm.get_key(kid).kid == kid
        cold = forged_issuer.key_set()
        with pytest.raises(KeySetUnavailableError):
            cold.get_key(kid)
    assert warm.status().last_error is not None
    assert cold.status().last_error is not None


def test_a_set_without_usable_keys_is_a_failed_fetch(forged_issuer: ForgedIssuer) -> None:
    """A JWK Set of only unusable keys (HMAC, encryption) is a failed fetch, not an
    empty set that would refuse every token until the TTL runs out."""
    kid = forged_issuer.kid
    cache = forged_issuer.key_set()
    cache.get_key(kid)
    enc_key = dict(forged_issuer.current_key.public_jwk(), use="enc", kid="enc")
    unusable = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, enc_key]}
    with forged_issuer.jwks_response(unusable):
        assert not cache.refresh()
        with pytest.raises(KeySetUnavailableError):
            forged_issuer.key_set().get_key("hmac")
    last_error = cache.status().last_error
    assert last_error is not None
    assert "no usable signing key" in last_error
    assert cache.get_key(kid).kid == kid


def test_good_answer_replaces_the_whole_set(forged_issuer: ForgedIssuer) -> None:
    """§5: keys removed by the issuer disappear on the next good fetch."""
    cache = forged_issuer.key_set(cooldown=30)
    old = forged_issuer.kid
    cache.get_key(old)
    new = forged_issuer.rotate()
    forged_issuer.retire()
    assert cache.refresh()
    assert cache.get_key(new.kid).kid == new.kid
    with pytest.raises(InvalidTokenError):
        cache.get_key(old)
    assert cache.status().key_count == 1


# -- credentials and TLS --------------------------------------------------------------


def test_netrc_credentials_are_never_sent(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a JWKS host (or whoever it redirects to) harvesting the credentials that
    ~/.netrc holds for it. requests sends them by default; claimguard must not, also
    through a session the caller passes in."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login deploy password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    key = ForgedKey.generate("ES256")
    url = server.route("/jwks", Reply(jwks_body(key)))

    # Control: plain requests does send them, so the .netrc above is in effect.
    requests.get(url, timeout=2).close()
    assert "authorization" in server.headers_seen("/jwks")[0]

    assert JWKSCache(url).get_key(key.kid).kid == key.kid
    with requests.Session() as session:
        assert JWKSCache(url, session=session).get_key(key.kid).kid == key.kid
    seen = server.headers_seen("/jwks")
    assert len(seen) == 3
    for headers in seen[1:]:
        assert "authorization" not in headers
        assert headers["accept"].startswith("application/jwk-set+json")


Sent = list[tuple[requests.PreparedRequest, dict[str, Any]]]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """What fetches would send: claimguard's adapter records each request with its
    transport arguments, and sends nothing (no name lookup, no connection)."""
    records: Sent = []

    def record(
        adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        records.append((request, kwargs))
        raise requests.ConnectionError("recorded, not sent")

    monkeypatch.setattr(fetching._TrackingAdapter, "send", record)
    return records


URL = "https://keys.example.test/.well-known/jwks.json"


@pytest.fixture
def no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_ca_env")
def test_a_session_cannot_turn_off_tls_verification_or_add_credentials(sent: Sent) -> None:
    """§5: TLS is always verified and no credentials are sent, whatever the session says;
    redirects are not followed and each request has a timeout."""
    session = requests.Session()
    session.verify = False
    session.auth = ("user", "password")
    cache = JWKSCache(URL, session=session, timeout=0.5)
    assert not cache.refresh()
    (request, kwargs), *_ = sent
    assert kwargs["verify"] is True
    connect, read = kwargs["timeout"]
    assert 0 < connect <= 0.5
    assert 0 < read <= 0.5
    assert "Authorization" not in request.headers


def test_redirects_are_never_followed_whatever_the_session_says(server: LoopbackServer) -> None:
    """A caller's session may allow redirects; key fetches still do not follow one."""
    target = server.route("/elsewhere", Reply(jwks_body(ForgedKey.generate("ES256"))))
    url = server.route("/jwks", Reply(b"", 302, {"Location": target}))
    with requests.Session() as session:
        session.max_redirects = 30
        assert not JWKSCache(url, session=session).refresh()
    assert server.hits("/elsewhere") == 0


@pytest.mark.usefixtures("no_ca_env")
def test_a_session_ca_bundle_is_kept(sent: Sent) -> None:
    """A caller's session pointing at its own CA bundle still verifies with that bundle
    (an explicit verify=True per request would silently replace it)."""
    session = requests.Session()
    session.verify = "/etc/ssl/private-ca.pem"
    assert not JWKSCache(URL, session=session).refresh()
    assert sent[0][1]["verify"] == "/etc/ssl/private-ca.pem"


@pytest.mark.usefixtures("no_ca_env")
def test_an_empty_session_ca_bundle_does_not_turn_verification_off(sent: Sent) -> None:
    """requests reads verify="" as false: an empty path must not slip through."""
    session = requests.Session()
    session.verify = ""
    assert not JWKSCache(URL, session=session).refresh()
    assert sent[0][1]["verify"] is True


def test_the_environment_ca_bundle_is_honoured(sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """§3: REQUESTS_CA_BUNDLE is honoured, so a test or a company CA can be trusted."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    assert not JWKSCache(URL).refresh()
    assert not JWKSCache(URL, session=requests.Session()).refresh()
    assert [kwargs["verify"] for _, kwargs in sent] == ["/etc/ssl/company-ca.pem"] * 2


def test_a_missing_ca_bundle_is_a_failed_fetch(tmp_path: Path) -> None:
    """requests raises OSError (not one of its own errors) for a CA bundle path that does
    not exist: still a failed fetch, not an unexpected error."""
    session = requests.Session()
    session.verify = str(tmp_path / "missing-ca.pem")
    cache = JWKSCache("https://127.0.0.1:9/jwks", session=session, timeout=1)
    assert not cache.refresh()
    assert "request failed (OSError)" in (cache.status().last_error or "")


# -- a caller's session: transport settings only ----------------------------------------


def test_a_caller_session_lends_transport_settings_only(
    server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: the caller's session identifies the app to its own services (an API key
    header, a session cookie, basic auth). A JWKS host, a third party, must see none of
    it; the session's proxies, CA bundle and client certificate are still used."""
    used: list[dict[str, Any]] = []
    send = fetching._TrackingAdapter.send

    def spy(adapter: Any, request: requests.PreparedRequest, **kwargs: Any) -> Any:
        used.append(kwargs)
        return send(adapter, request, **kwargs)

    monkeypatch.setattr(fetching._TrackingAdapter, "send", spy)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("not used over plain http")
    key.write_text("not used over plain http")
    hooked: list[object] = []
    key_pair = ForgedKey.generate("ES256")
    url = server.route("/jwks", Reply(jwks_body(key_pair)))

    with requests.Session() as session:
        session.headers.update({"Authorization": "Basic x", "X-Secret": "s"})
        session.cookies.set("sid", "cookie-secret", domain="127.0.0.1")
        session.auth = ("u", "p")
        session.params = {"api_key": "param-secret"}
        session.hooks["response"].append(lambda response, **_: hooked.append(response))
        session.proxies = {"https": "http://127.0.0.1:9"}  # an https-only proxy
        session.verify = "/etc/ssl/private-ca.pem"
        session.cert = (str(cert), str(key))
        cache = JWKSCache(url, session=session)
        assert cache.get_key(key_pair.kid).kid == key_pair.kid

    (headers,) = server.headers_seen("/jwks")
    assert "authorization" not in headers
    assert "x-secret" not in headers
    assert "cookie" not in headers
    assert headers["accept"].startswith("application/jwk-set+json")
    assert hooked == []
    (kwargs,) = used
    assert kwargs["proxies"]["https"] == "http://127.0.0.1:9"
    assert kwargs["verify"] == "/etc/ssl/private-ca.pem"
    assert kwargs["cert"] == (str(cert), str(key))
    assert "param-secret" not in server.base_url + str(used)


def test_cookies_a_key_endpoint_sets_are_never_sent_back(server: LoopbackServer) -> None:
    """Keys need no state: a Set-Cookie from the endpoint is refused, not replayed."""
    key = ForgedKey.generate("ES256")
    url = server.route("/jwks", Reply(jwks_body(key), headers={"Set-Cookie": "track=me; Path=/"}))
    cache = JWKSCache(url)
    assert cache.refresh()
    assert cache.refresh()
    assert [("cookie" in headers) for headers in server.headers_seen("/jwks")] == [False, False]


def test_a_caller_session_trust_env_is_kept(sent: Sent, monkeypatch: pytest.MonkeyPatch) -> None:
    """trust_env=False on the caller's session: the environment's proxy is not used."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = requests.Session()
    session.trust_env = False
    assert not JWKSCache(URL, session=session).refresh()
    assert not JWKSCache(URL).refresh()
    assert "https" not in sent[0][1]["proxies"]
    assert sent[1][1]["proxies"]["https"] == "http://127.0.0.1:9"


class _HangUpOnce:
    """Hang up without an answer on the first request, answer ``body`` afterwards."""

    def __init__(self, body: bytes) -> None:
        self.answer = Reply(body, headers={"Content-Type": "application/json"})
        self.calls = 0

    def __call__(self, handler: Any, server: LoopbackServer, path: str) -> None:
        self.calls += 1
        if self.calls > 1:
            self.answer(handler, server, path)


def test_a_caller_retry_policy_is_kept(server: LoopbackServer) -> None:
    """An HTTPAdapter the caller mounted with retries: its retries still apply."""
    key = ForgedKey.generate("ES256")
    url = server.route("/jwks", _HangUpOnce(jwks_body(key)))
    with requests.Session() as session:
        session.mount("http://127.0.0.1", requests.adapters.HTTPAdapter(max_retries=Retry(2)))
        assert JWKSCache(url, session=session, timeout=2).refresh()
    assert server.hits("/jwks") == 2
    # Without the caller's policy, the hang-up is a failed fetch.
    url = server.route("/again", _HangUpOnce(jwks_body(key)))
    assert not JWKSCache(url, timeout=2).refresh()


def test_status_retries_of_a_caller_policy_are_dropped(server: LoopbackServer) -> None:
    """Attack: with retries on 503, urllib3 would read each refused body to its end and
    sleep as long as Retry-After says. Those retries are not kept: one request, at once."""
    url = server.route("/jwks", Reply(b"{}", 503, {"Retry-After": "30"}))
    retry = Retry(total=3, status_forcelist=[503], backoff_factor=5)
    with requests.Session() as session:
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
        cache = JWKSCache(url, session=session, timeout=2)
        started = time.monotonic()
        assert not cache.refresh()
    assert time.monotonic() - started < 1.0
    assert server.hits("/jwks") == 1
    assert "HTTP 503" in (cache.status().last_error or "")


class _SendsItsOwnWay(requests.adapters.HTTPAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        raise AssertionError("never called")


class _OnlyDefaults(requests.adapters.HTTPAdapter):
    def __init__(self) -> None:
        super().__init__(max_retries=Retry(total=4, backoff_factor=0.1))


class _NotHTTP(requests.adapters.BaseAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        raise AssertionError("never called")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("prefix", "adapter"),
    [("https://", _SendsItsOwnWay()), ("https://idp.example.com", _NotHTTP()), ("h", _NotHTTP())],
    ids=["overrides-send", "not-an-http-adapter", "short-prefix"],
)
def test_a_custom_transport_on_a_caller_session_is_refused(
    prefix: str, adapter: requests.adapters.BaseAdapter
) -> None:
    """A transport that opens its own sockets could not be abandoned at the deadline, and
    skipping it silently could route key fetches around the operator's egress path."""
    session = requests.Session()
    session.mount(prefix, adapter)
    with pytest.raises(ConfigurationError, match="cannot end such a transport"):
        JWKSCache(URL, session=session)
    with pytest.raises(ConfigurationError):
        JWKSCache.from_discovery("https://idp.example.com/", session=session)


def test_adapters_that_only_set_defaults_or_serve_other_schemes_are_fine() -> None:
    session = requests.Session()
    session.mount("https://", _OnlyDefaults())
    session.mount("file://", _NotHTTP())  # never used for an http(s) URL
    cache = JWKSCache(URL, session=session)
    mounted = cache._session.get_adapter(URL)
    assert isinstance(mounted, fetching._TrackingAdapter)
    assert mounted.max_retries.total == 4
    assert mounted.max_retries.backoff_factor == 0.1
    assert not mounted.max_retries.status_forcelist


# -- status, refresh, listeners -------------------------------------------------------


def test_status_reflects_the_state(forged_issuer: ForgedIssuer) -> None:
    """status() is what readiness probes and operators read: it must not lie."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=5, max_stale=20, timeout=2)
    status = cache.status()
    assert status.url == forged_issuer.jwks_url
    assert not status.loaded
    assert not status.fresh
    assert status.age is None
    assert status.key_count == 0
    assert status.last_error is None
    assert not status.cooling_down
    assert not status.refreshing
    assert status.fetches == 0

    cache.get_key(forged_issuer.kid)
    clock.advance(3)
    status = cache.status()
    assert status.loaded
    assert status.fresh
    assert status.age == 3
    assert status.key_count == 1
    assert status.fetches == 1

    clock.advance(8)  # stale
    with forged_issuer.jwks_response(forged_issuer.jwks(), delay=0.3):
        cache.get_key(forged_issuer.kid)
        status = cache.status()
        assert status.refreshing
        assert status.loaded
        assert not status.fresh
        assert cache.wait_until_idle(3)
    status = cache.status()
    assert not status.refreshing
    assert status.fresh
    assert status.age == 0
    assert status.fetches == 2

    with forged_issuer.outage():
        assert not cache.refresh()
    status = cache.status()
    assert status.loaded  # the set is still fresh
    assert status.last_error is not None
    assert "HTTP 503" in status.last_error
    assert status.cooling_down
    assert status.fetches == 3
    clock.advance(5)
    assert not cache.status().cooling_down

    with pytest.raises(InvalidTokenError):
        cache.get_key(random_kid())  # arms the unknown-kid cooldown
    assert cache.status().cooling_down
    assert cache.status().last_error is None  # that refetch succeeded

    clock.advance(10 + 20)  # past ttl + max_stale
    status = cache.status()
    assert not status.loaded
    assert status.key_count == 0


def test_refresh_forces_a_fetch(forged_issuer: ForgedIssuer) -> None:
    """refresh() fetches now, ignoring freshness and back-off, and reports the outcome."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=600, cooldown=30, timeout=1)
    assert cache.refresh()
    assert cache.refresh()  # still fresh: fetched anyway
    assert forged_issuer.jwks_requests == 2
    with forged_issuer.outage():
        assert not cache.refresh()
    assert cache.status().cooling_down
    assert cache.refresh()  # backing off: fetched anyway
    assert forged_issuer.jwks_requests == 4
    assert cache.status().last_error is None


def test_holds_tells_whether_a_key_is_in_the_set(forged_issuer: ForgedIssuer) -> None:
    """holds() backs the verified-token cache: no fetch on a cold cache, a background
    refresh once stale, and False once a key left the set."""
    clock = FakeClock()
    cache = forged_issuer.key_set(clock=clock, ttl=10, cooldown=5)
    assert not cache.holds("0" * 64)
    assert forged_issuer.jwks_requests == 0
    thumbprint = cache.get_key(forged_issuer.kid).thumbprint
    assert cache.holds(thumbprint)
    assert not cache.holds("0" * 64)
    forged_issuer.rotate()
    forged_issuer.retire()
    clock.advance(10)
    assert cache.holds(thumbprint)  # stale, still served; the refresh starts
    assert cache.wait_until_idle(3)
    assert forged_issuer.jwks_requests == 2
    assert not cache.holds(thumbprint)


def test_listeners_see_each_new_set_and_a_failing_one_breaks_nothing(
    forged_issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises must not undo the fetch, kill the fetch thread or leave
    the waiting requests blocked until their timeout."""
    seen: list[KeySet] = []

    def broken(keys: KeySet) -> None:
        raise RuntimeError("listener bug")

    cache = forged_issuer.key_set(timeout=1)
    cache.add_listener(broken)
    cache.add_listener(seen.append)
    with caplog.at_level(logging.ERROR, logger="claimguard"):
        started = time.perf_counter()
        key = cache.get_key(forged_issuer.kid)
        assert time.perf_counter() - started < 0.9
    assert "listener failed" in caplog.text
    assert len(seen) == 1
    assert seen[0].find(forged_issuer.kid) == key
    assert not cache.status().refreshing
    assert cache.refresh()  # the next flight can start
    assert len(seen) == 2


def test_failed_fetch_is_logged_without_the_body(
    forged_issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning names the URL and the reason; it does not echo what the server sent."""
    cache = forged_issuer.key_set()
    with (
        forged_issuer.jwks_response(b"\x1b[31mforged\nlog line", status=500),
        caplog.at_level(logging.WARNING, logger="claimguard"),
    ):
        assert not cache.refresh()
    assert "HTTP 500" in caplog.text
    assert forged_issuer.jwks_url in caplog.text
    assert "forged" not in caplog.text


# -- fork safety -----------------------------------------------------------------------


def test_reset_after_fork_gives_a_fresh_lock_and_session(forged_issuer: ForgedIssuer) -> None:
    """gunicorn --preload forks after import: a lock held by a parent thread at fork time
    would stay held forever in the child, and a shared connection pool would mix two
    processes' traffic."""
    cache = forged_issuer.key_set()
    cache.get_key(forged_issuer.kid)
    old_lock, old_session = cache._lock, cache._session
    assert old_lock.acquire(timeout=1)  # as if another thread held it at fork time
    try:
        cache._reset_after_fork()
    finally:
        old_lock.release()
    assert cache._lock is not old_lock
    assert not cache._lock.locked()
    assert cache._session is not old_session
    assert cache._flight is None
    assert cache.get_key(forged_issuer.kid).kid == forged_issuer.kid  # keys survive
    assert cache in jwks_module._all_caches  # the at-fork hook will find it

    with requests.Session() as session:
        session.proxies = {"https": "http://127.0.0.1:9"}
        theirs = forged_issuer.key_set(session=session)
        before = theirs._session
        theirs._reset_after_fork()
        # Never the caller's own session: a new one of ours, with its transport settings.
        assert theirs._session is not session
        assert theirs._session is not before
        assert theirs._session.proxies == {"https": "http://127.0.0.1:9"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_can_fetch_while_the_parent_holds_the_lock(
    forged_issuer: ForgedIssuer,
) -> None:
    """End to end: fork while a parent thread holds the cache's lock; the child still
    fetches keys (the register_at_fork hook reset its lock and session)."""
    cache = forged_issuer.key_set(timeout=2)
    cache.get_key(forged_issuer.kid)
    assert cache._lock.acquire(timeout=1)
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a multi-threaded process.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                code = 0 if cache.refresh() else 2
            finally:
                os._exit(code)
    finally:
        cache._lock.release()
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the lock it inherited")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert forged_issuer.jwks_requests == 2  # the child's fetch reached the issuer


def test_an_abandoned_fetch_ends_its_thread_and_socket(server: LoopbackServer) -> None:
    """An endpoint that dribbles its status line and headers must not keep a fetch
    thread (and its socket) alive: abandoning the fetch shuts its socket down."""
    headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X" * 200
    url = server.route("/jwks", dribble(headers, pause=0.05, raw=True))
    cache = JWKSCache(url, timeout=0.3, cooldown=0)

    def fetch_threads() -> int:
        return sum(thread.name == "claimguard-jwks" for thread in threading.enumerate())

    before = fetch_threads()
    for _ in range(4):
        with pytest.raises(KeySetUnavailableError):
            cache.get_key("kid")
        time.sleep(0.3)  # past the deadline: the next call abandons the stalled fetch
    assert cache.wait_until_idle(2)  # abandons the last stalled fetch as well
    deadline = time.monotonic() + 3
    while fetch_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fetch_threads() == before, "a stalled fetch thread outlived its abandonment"
    assert "abandoned" in (cache.status().last_error or "")


def test_a_waiting_request_waits_at_most_the_timeout(server: LoopbackServer) -> None:
    """Requests wait for a fetch at most HTTP_TIMEOUT in total."""
    headers = b"HTTP/1.1 200 OK\r\n" + b"X" * 100
    url = server.route("/jwks", dribble(headers, pause=0.05, raw=True))
    cache = JWKSCache(url, timeout=0.4, cooldown=0)
    started = time.monotonic()
    with pytest.raises(KeySetUnavailableError):
        cache.get_key("kid")
    assert time.monotonic() - started < 0.4 + 0.15


def _fetch_threads() -> int:
    return sum(thread.name == "claimguard-jwks" for thread in threading.enumerate())


def _threads_left(before: int, wait: float = 3.0) -> int:
    """Fetch threads beyond ``before`` still alive after waiting up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while _fetch_threads() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    return _fetch_threads() - before


def test_fetches_abandoned_with_a_caller_session_leave_no_thread(server: LoopbackServer) -> None:
    """A fetch through a caller's session must end at its abandonment like any other,
    retries included: 8 abandoned fetches used to leave 8 threads blocked on an endpoint
    that dribbles its headers. The session's adapter retries (with a long backoff)
    after each broken read; those retries must stop at the deadline too."""
    headers = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X" * 400
    url = server.route("/jwks", dribble(headers, pause=0.05, raw=True))  # 20 s of headers
    before = _fetch_threads()
    with requests.Session() as session:
        retry = Retry(total=3, backoff_factor=5)
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
        caches = iter([JWKSCache(url, session=session, timeout=0.3, cooldown=0) for _ in range(8)])
        started = time.monotonic()
        results = run_in_threads(8, lambda: next(caches).refresh())
        assert results == [False] * 8
        assert time.monotonic() - started < 2.0
        assert _threads_left(before) == 0, "abandoned fetch threads outlived their deadline"


class _KeepAliveThenDribble:
    """First answer: a good key set on a connection the server keeps open (HTTP/1.1
    keep-alive, whatever the request asked). Later answers: headers one byte per
    ``pause`` seconds."""

    def __init__(self, body: bytes, pause: float = 0.05) -> None:
        self.first = Reply(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive"
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
            + body,
            raw=True,
        )
        self.later = dribble(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 400, pause=pause, raw=True)
        self.calls = 0

    def __call__(self, handler: Any, server: LoopbackServer, path: str) -> None:
        self.calls += 1
        if self.calls == 1:
            self.first(handler, server, path)
            handler.close_connection = False  # serve the next request on this connection
        else:
            self.later(handler, server, path)


def test_a_connection_the_server_keeps_open_is_not_reused(server: LoopbackServer) -> None:
    """Attack: answer once on a connection kept open, then stall the next answer on it.
    Each fetch connects anew, so the stalled one is on a socket its own tracker
    recorded and ends at its abandonment."""
    key = ForgedKey.generate("ES256")
    url = server.route("/jwks", _KeepAliveThenDribble(jwks_body(key)))
    cache = JWKSCache(url, timeout=0.3, cooldown=0)
    before = _fetch_threads()
    assert cache.refresh()
    assert not cache.refresh()
    assert "abandoned" in (cache.status().last_error or "")
    assert _threads_left(before) == 0, "the stalled fetch on a reused connection lived on"


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: connections to it are refused at once."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return int(listener.getsockname()[1])


@contextlib.contextmanager
def _full_accept_queue() -> Iterator[int]:
    """A 127.0.0.1 port whose accept queue is full: a new connection hangs in connect
    until its timeout, where no tracker can reach its socket yet (Linux)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        with socket.create_connection(listener.getsockname(), timeout=1):  # fills it
            yield int(listener.getsockname()[1])


@pytest.mark.parametrize(
    ("retry", "slow_connects"),
    [
        (Retry(total=3, backoff_factor=5), False),
        (Retry(total=None, connect=None, backoff_factor=0), False),
        (Retry(total=20, connect=20, backoff_factor=0), True),
    ],
    ids=["long-backoff", "unlimited-attempts", "attempts-past-the-deadline"],
)
def test_a_caller_retry_policy_stops_at_the_deadline(retry: Retry, slow_connects: bool) -> None:
    """Retries are kept, but bounded by the fetch: no backoff sleeps past the deadline
    (a caller's 10 s backoff), no unlimited attempts (urllib3 would recurse until the
    stack overflows), and no attempt starts after the deadline (20 connects of 0.3 s
    each would keep the thread for 6 s)."""
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(_full_accept_queue()) if slow_connects else _closed_port()
        url = f"http://127.0.0.1:{port}/jwks"
        before = _fetch_threads()
        with requests.Session() as session:
            session.mount("http://", requests.adapters.HTTPAdapter(max_retries=retry))
            cache = JWKSCache(url, session=session, timeout=0.3, cooldown=0)
            started = time.monotonic()
            assert not cache.refresh()
            assert time.monotonic() - started < 1.0
        assert _threads_left(before, wait=1.5) == 0, "a retrying fetch outlived its deadline"
    last_error = cache.status().last_error or ""
    assert "request failed" in last_error or "abandoned" in last_error, last_error


class _SlowHandshake:
    """A TCP server on 127.0.0.1 that answers any connection with the start of a TLS
    record, one byte per ``pause`` seconds: a handshake that never completes."""

    def __init__(self, pause: float = 0.05, limit: int = 400) -> None:
        self.pause, self.limit = pause, limit
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port = self.listener.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._dribble, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _dribble(self, conn: socket.socket) -> None:
        record = b"\x16\x03\x03\x40\x00" + b"\x02" * self.limit  # a 16 KiB handshake record
        with conn:
            for byte in record[: self.limit]:
                if self.stopping.wait(self.pause):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up

    def __enter__(self) -> _SlowHandshake:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.listener.close()


def test_a_tls_handshake_dribbled_byte_by_byte_ends_by_the_deadline() -> None:
    """Slow-loris before any HTTP: the TLS handshake itself trickles. No socket is
    recorded before the handshake completes, so this relies on CPython bounding the
    whole handshake by the socket timeout; this test keeps that assumption checked."""
    with _SlowHandshake() as slow:
        cache = JWKSCache(f"https://127.0.0.1:{slow.port}/jwks", timeout=0.3, cooldown=0)
        before = _fetch_threads()
        started = time.monotonic()
        assert not cache.refresh()
        assert time.monotonic() - started < 1.0
        assert _threads_left(before) == 0, "the handshake outlived the fetch's deadline"


# -- discovery that aims inward ---------------------------------------------------------

PUBLIC_ISSUER = "https://idp.example.com/"


def _stub_discovery(
    monkeypatch: pytest.MonkeyPatch, jwks_uri: str, serve: Callable[[str], Any] | None = None
) -> list[str]:
    """Make the discovery of :data:`PUBLIC_ISSUER` (a public https issuer, which tests
    cannot reach) answer a document naming ``jwks_uri``. Other URLs go to ``serve`` or,
    without it, to the real fetch (to a loopback server). Returns every URL fetched."""
    fetched: list[str] = []
    real = jwks_module.get_json

    def get_json(session: requests.Session, url: str, **options: Any) -> Any:
        fetched.append(url)
        if url == discovery_url(PUBLIC_ISSUER):
            return {"issuer": PUBLIC_ISSUER, "jwks_uri": jwks_uri}
        return serve(url) if serve is not None else real(session, url, **options)

    monkeypatch.setattr(jwks_module, "get_json", get_json)
    return fetched


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("http://127.0.0.1:{port}/internal", "must use https"),
        ("https://127.0.0.1:{port}/internal", "loopback address"),
        ("https://localhost:{port}/internal", "localhost"),
        ("https://127.1:{port}/internal", "dotted quad"),
    ],
)
def test_a_public_issuers_discovery_cannot_aim_fetches_at_loopback(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, template: str, reason: str
) -> None:
    """The fetch fails with the reason, and no GET is issued for the jwks_uri: the
    loopback server sees nothing."""
    port = server.base_url.rsplit(":", 1)[1]
    server.route("/internal", Reply(b'{"keys": []}'))
    fetched = _stub_discovery(monkeypatch, template.format(port=port))
    cache = JWKSCache.from_discovery(PUBLIC_ISSUER, timeout=1)
    with pytest.raises(KeySetUnavailableError):
        cache.get_key("any")
    assert fetched == [discovery_url(PUBLIC_ISSUER)]
    assert server.total_hits() == 0
    last_error = cache.status().last_error or ""
    assert "jwks_uri" in last_error
    assert reason in last_error
    assert cache.url is None


def _unavailable(url: str) -> Any:
    raise fetching.FetchError(f"{url}: HTTP 503")


def test_a_jwks_uri_on_another_host_is_logged_once_per_cache(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys on another host than the issuer's are legitimate but worth a glance: one
    WARNING per cache, not one per fetch. (The JWKS answers 503 here, so every fetch
    discovers again.)"""
    jwks_uri = "https://keys.example.net/jwks?\u202egnp.x"
    fetched = _stub_discovery(monkeypatch, jwks_uri, serve=_unavailable)
    cache = JWKSCache.from_discovery(PUBLIC_ISSUER, timeout=1)
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        assert not cache.refresh()
        assert not cache.refresh()
        assert fetched.count(discovery_url(PUBLIC_ISSUER)) == 2
        cross_host = [r for r in caplog.records if "another host" in r.getMessage()]
        assert len(cross_host) == 1
        assert "keys.example.net" in cross_host[0].getMessage()
        assert "\u202e" not in cross_host[0].getMessage()  # escaped: no reordered text
        # Each cache warns for itself.
        assert not JWKSCache.from_discovery(PUBLIC_ISSUER, timeout=1).refresh()
        cross_host = [r for r in caplog.records if "another host" in r.getMessage()]
        assert len(cross_host) == 2


def test_a_jwks_uri_on_the_issuer_host_is_not_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _stub_discovery(monkeypatch, "https://IDP.example.com/.well-known/jwks.json", _unavailable)
    with caplog.at_level(logging.WARNING, logger="claimguard"):
        assert not JWKSCache.from_discovery(PUBLIC_ISSUER, timeout=1).refresh()
    assert "another host" not in caplog.text
