"""``JWKSCache``: fetching, caching and refreshing one issuer's signing keys (DESIGN §5).

Every HTTP request is counted where it lands: at the ``ForgedIssuer`` loopback server
(``jwks_requests``) or at the shared recording server (the ``server`` fixture, a
:class:`loopback.LoopbackServer`). Time is moved with a fake monotonic clock passed as
``clock=``; real waiting happens only where the point is real waiting (timeouts, slow
endpoints), and is kept under a second or two.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from claimguard import jwks as jwks_module
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


class RecordingSession(requests.Session):
    """A session that records what would be sent, and sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict[str, Any]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append((request, kwargs))
        raise requests.ConnectionError("recorded, not sent")


URL = "https://keys.example.test/.well-known/jwks.json"


@pytest.fixture
def no_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_ca_env")
def test_a_session_cannot_turn_off_tls_verification_or_add_credentials() -> None:
    """§5: TLS is always verified and no credentials are sent, whatever the session says;
    redirects are not followed and each request has a timeout."""
    session = RecordingSession()
    session.verify = False
    session.auth = ("user", "password")
    cache = JWKSCache(URL, session=session, timeout=0.5)
    assert not cache.refresh()
    (request, kwargs), *_ = session.sent
    assert kwargs["verify"] is True
    assert kwargs["allow_redirects"] is False
    connect, read = kwargs["timeout"]
    assert 0 < connect <= 0.5
    assert 0 < read <= 0.5
    assert "Authorization" not in request.headers


@pytest.mark.usefixtures("no_ca_env")
def test_a_session_ca_bundle_is_kept() -> None:
    """A caller's session pointing at its own CA bundle still verifies with that bundle
    (an explicit verify=True per request would silently replace it)."""
    session = RecordingSession()
    session.verify = "/etc/ssl/private-ca.pem"
    assert not JWKSCache(URL, session=session).refresh()
    assert session.sent[0][1]["verify"] == "/etc/ssl/private-ca.pem"


@pytest.mark.usefixtures("no_ca_env")
def test_an_empty_session_ca_bundle_does_not_turn_verification_off() -> None:
    """requests reads verify="" as false: an empty path must not slip through."""
    session = RecordingSession()
    session.verify = ""
    assert not JWKSCache(URL, session=session).refresh()
    assert session.sent[0][1]["verify"] is True


def test_the_environment_ca_bundle_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """§3: REQUESTS_CA_BUNDLE is honoured, so a test or a company CA can be trusted."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
    session = RecordingSession()
    assert not JWKSCache(URL, session=session).refresh()
    assert session.sent[0][1]["verify"] == "/etc/ssl/company-ca.pem"


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
        theirs = forged_issuer.key_set(session=session)
        theirs._reset_after_fork()
        assert theirs._session is session  # a caller's session is the caller's


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
    """DESIGN §5: requests wait for a fetch at most HTTP_TIMEOUT in total."""
    headers = b"HTTP/1.1 200 OK\r\n" + b"X" * 100
    url = server.route("/jwks", dribble(headers, pause=0.05, raw=True))
    cache = JWKSCache(url, timeout=0.4, cooldown=0)
    started = time.monotonic()
    with pytest.raises(KeySetUnavailableError):
        cache.get_key("kid")
    assert time.monotonic() - started < 0.4 + 0.15
