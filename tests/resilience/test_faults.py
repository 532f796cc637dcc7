"""Faults of the issuer's JWKS endpoint, through example_api under gunicorn.

The key-set rules (jwks.py) in practice, with ForgedIssuer's ``outage()`` and
``jwks_response(delay=)`` and small ``CLAIMGUARD_JWKS_*`` settings so each test runs in seconds:

* an outage during traffic: stale keys keep serving, then 503 with ``Retry-After``,
  then recovery;
* a slow endpoint: a cached kid never waits for a refresh; a request that must wait is
  bounded by ``CLAIMGUARD_HTTP_TIMEOUT``;
* a flapping endpoint;
* the readiness route ``GET /health/ready``, with and without warm-up.

Time bounds carry margins for a noisy 2-core machine; every loop is bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from claimguard.testing import ForgedIssuer

from .harness import Answer
from .harness import Client
from .harness import Traffic
from .harness import between
from .harness import get
from .harness import key_set
from .harness import keys_unavailable
from .harness import percentile
from .harness import running_api
from .harness import wait_for
from .harness import worker_states

pytestmark = pytest.mark.slow

READY_FIELDS = {
    "loaded",
    "fresh",
    "age",
    "key_count",
    "last_error",
    "cooling_down",
    "refreshing",
    "fetches",
}
#: Everything the public readiness answer holds.
PUBLIC_FIELDS = {"status", "issuers"}
#: Margin on every time boundary below (scheduling noise on 2 cores).
MARGIN = 0.3


def ready(answer: Answer) -> bool:
    return answer.status == 200 and answer.json()["status"] == "ready"


def assert_readiness_shape(answer: Answer, issuer: ForgedIssuer) -> dict[str, Any]:
    """The public part of the answer is a status per issuer, nothing else (no pid, no
    URL, no error); the ``diagnostics`` the test build adds agree with it."""
    body: dict[str, Any] = answer.json()
    assert answer.status in (200, 503)
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    public = {name: value for name, value in body.items() if name != "diagnostics"}
    assert set(public) == PUBLIC_FIELDS
    assert body["status"] == ("ready" if answer.status == 200 else "not_ready")
    assert isinstance(body["diagnostics"]["pid"], int)
    assert list(body["diagnostics"]["key_sets"]) == [issuer.issuer]
    entry = body["diagnostics"]["key_sets"][issuer.issuer]
    assert set(entry) == READY_FIELDS
    assert public["issuers"] == [{"loaded": entry["loaded"], "fresh": entry["fresh"]}]
    return body


# -- an outage ----------------------------------------------------------------------------


def test_outage_stale_keys_then_503_then_recovery(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """ttl 1 s, max_stale 2 s, cooldown 0.5 s.

    Under traffic the set is refreshed whenever it is past its TTL, so when the outage
    starts (``t0``) the last success is at most ``ttl`` old, and the set keeps serving
    until at least ``t0 + max_stale``: no valid request fails before then. By
    ``t0 + ttl + max_stale`` it is gone: 503, integer ``Retry-After``, JSON. When the
    issuer comes back, the first request after the back-off fetches the keys again.
    """
    ttl, max_stale, cooldown = 1.0, 2.0, 0.5
    with running_api(
        issuer,
        tmp_path,
        workers=2,
        warm_up=True,
        jwks_cache_ttl=ttl,
        jwks_max_stale=max_stale,
        jwks_cooldown=cooldown,
        http_timeout=1,
    ) as api:
        with Traffic(api, issuer) as traffic:
            time.sleep(ttl + 0.5)  # TTL refreshes under traffic, before the outage
            with issuer.outage():
                t0 = time.monotonic()
                # Stale, yet serving: past the TTL, within max_stale, last fetch failed.
                time.sleep(ttl + 0.1)
                stale = worker_states(
                    api,
                    until=lambda a: ready(a) and key_set(a)["last_error"] is not None,
                    timeout=max_stale - ttl - MARGIN,
                )
                t_gone = t0 + ttl + max_stale + MARGIN
                time.sleep(max(0.0, t_gone + 1.0 - time.monotonic()))
                samples = traffic.stop()
                gone = worker_states(api, until=lambda a: a.status == 503, timeout=5)
                one_more = get(api, "/products", token=issuer.mint(roles=["viewer"]))
            t1 = time.monotonic()
            # Back: after the back-off (cooldown), requests fetch the keys again.
            recovered = wait_for(
                lambda: get(api, "/products", token=issuer.mint(roles=["viewer"])).status == 200,
                timeout=cooldown + 3,
            )
            with Traffic(api, issuer) as after_t1:
                time.sleep(cooldown + 1.0)
                recovery = after_t1.stop()
            back = worker_states(api, until=ready, timeout=10)
        log_tail = api.log_tail()

    assert samples, "no traffic"
    before = between(samples, 0, t0)
    serving_stale = between(samples, t0, t0 + max_stale - MARGIN)
    undecided = between(samples, t0 + max_stale - MARGIN, t_gone)
    refused = between(samples, t_gone, float("inf"))
    assert before
    assert serving_stale
    assert refused
    # Stale-if-error: no valid request fails while stale keys are allowed.
    assert {s.status for s in before} == {200}
    assert {s.status for s in serving_stale} == {200}, log_tail
    # Around the limit, either; never a 401 (the token is valid) and never a 500.
    assert {s.status for s in undecided} <= {200, 503}
    # After max stale: 503 with an integer Retry-After and the JSON body.
    assert all(s.status == 503 and s.keys_unavailable for s in refused), {s.status for s in refused}
    assert keys_unavailable(one_more)
    for answer in stale.values():
        entry = key_set(answer)
        assert (entry["loaded"], entry["fresh"]) == (True, False)
        assert "503" in entry["last_error"]
    # Readiness follows: 503 not_ready on every worker past max stale.
    for answer in gone.values():
        body = assert_readiness_shape(answer, issuer)
        entry = body["diagnostics"]["key_sets"][issuer.issuer]
        assert (body["status"], entry["loaded"], entry["key_count"]) == ("not_ready", False, 0)
        assert entry["last_error"] is not None
    # Recovery: keys come back for requests, and readiness goes back to 200.
    assert recovered
    # Past the back-off every worker fetches again on its next request.
    settled = between(recovery, t1 + cooldown + MARGIN, float("inf"))
    assert {s.status for s in recovery} <= {200, 503}
    assert settled
    assert {s.status for s in settled} == {200}
    assert all(ready(answer) for answer in back.values())
    assert all(key_set(answer)["last_error"] is None for answer in back.values())


def test_flapping_endpoint(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """The JWKS endpoint alternates 0.6 s down / 0.6 s up for ~6 s, with ttl 1 s,
    max_stale 3 s, cooldown 0.5 s: every gap between two possible successes is far below
    ``ttl + max_stale``, so every valid request is answered 200. Fetch attempts stay
    bounded (at most one per cooldown per worker)."""
    ttl, max_stale, cooldown, half_period, cycles = 1.0, 3.0, 0.5, 0.6, 5
    with running_api(
        issuer,
        tmp_path,
        workers=2,
        warm_up=True,
        jwks_cache_ttl=ttl,
        jwks_max_stale=max_stale,
        jwks_cooldown=cooldown,
        http_timeout=1,
    ) as api:
        start = worker_states(api)
        jwks_before = issuer.jwks_requests
        with Traffic(api, issuer) as traffic:
            began = time.monotonic()
            for _ in range(cycles):
                with issuer.outage():
                    time.sleep(half_period)
                time.sleep(half_period)
            flapped = time.monotonic() - began
            samples = traffic.stop()
        end = worker_states(api, until=lambda a: ready(a), timeout=10)
        jwks_during = issuer.jwks_requests - jwks_before
        log_tail = api.log_tail()

    assert len(samples) > 100
    statuses = [s.status for s in samples]
    assert set(statuses) == {200}, (sorted(set(statuses)), log_tail)
    bound = int(flapped / cooldown) + 1
    fetches = {pid: key_set(end[pid])["fetches"] - key_set(start[pid])["fetches"] for pid in end}
    assert all(1 <= n <= bound for n in fetches.values()), (fetches, bound)
    assert jwks_during <= len(end) * bound
    print(
        f"\nflapping: {len(samples)} requests all 200 over {flapped:.1f}s; "
        f"fetch attempts per worker {fetches} (bound {bound})"
    )


# -- a slow endpoint -----------------------------------------------------------------------


def test_slow_jwks_never_delays_a_cached_kid(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """The JWKS takes 3 s to answer and the set is past its TTL: the refresh runs in the
    background (single-flight, one per worker) while every request whose kid is cached
    answers at once, repeated tokens and never-seen ones alike."""
    ttl, delay = 1.0, 3.0
    with running_api(
        issuer,
        tmp_path,
        workers=2,
        warm_up=True,
        jwks_cache_ttl=ttl,
        jwks_max_stale=60,
        jwks_cooldown=0.5,
        http_timeout=5,
    ) as api:
        time.sleep(ttl + 0.2)  # past the TTL
        jwks_before = issuer.jwks_requests
        with issuer.jwks_response(issuer.jwks(), delay=delay):
            with Traffic(api, issuer, pause=0.005) as traffic:
                in_flight = worker_states(api, until=lambda a: key_set(a)["refreshing"], timeout=2)
                time.sleep(max(0.0, delay - 0.8))
                samples = traffic.stop()
            jwks_during = issuer.jwks_requests - jwks_before
        refreshed = worker_states(api, until=lambda a: key_set(a)["fresh"], timeout=delay + 3)

    assert len(samples) > 50
    assert {s.status for s in samples} == {200}
    slowest = max(s.elapsed for s in samples)
    print(
        f"\nslow JWKS ({delay}s): {len(samples)} cached-kid requests, "
        f"p99 {percentile([s.elapsed for s in samples], 0.99) * 1000:.1f} ms, "
        f"max {slowest * 1000:.1f} ms"
    )
    assert slowest < 1.0, slowest
    assert all(key_set(a)["refreshing"] for a in in_flight.values())
    # Single-flight: one slow fetch per worker, however many requests saw the set stale.
    assert jwks_during == len(in_flight)
    assert all(key_set(a)["fetches"] == 2 for a in refreshed.values())


def test_requests_that_must_wait_are_bounded_by_the_timeout(
    issuer: ForgedIssuer, tmp_path: Path
) -> None:
    """CLAIMGUARD_HTTP_TIMEOUT 0.5 s, JWKS delayed 3 s. A request that needs a fetch (no
    keys yet, or an unknown kid) waits at most the timeout, then gets 503 with
    ``Retry-After``; meanwhile a cached kid is still served at once. A valid new-kid
    token is never refused 401 for it: 503 while the fetch fails, 200 once it works.

    A waiting request holds a gunicorn thread for up to the timeout: with 2 x 8 threads,
    the 8 waiting requests cannot starve the cached-kid ones (with 2 x 4 they could,
    and those would queue for the timeout, though claimguard itself never makes them
    wait)."""
    timeout, delay, cooldown, bound = 0.5, 3.0, 0.5, 1.5
    with running_api(
        issuer,
        tmp_path,
        workers=2,
        threads=8,
        jwks_cache_ttl=600,
        jwks_cooldown=cooldown,
        http_timeout=timeout,
    ) as api:
        old_key_token = issuer.mint(roles=["viewer"])

        def call(token: str) -> Answer:
            return get(api, "/products?limit=1", token=token)

        # Cold cache: every first request must wait for the first fetch.
        with (
            issuer.jwks_response(issuer.jwks(), delay=delay),
            ThreadPoolExecutor(max_workers=8) as pool,
        ):
            cold = list(pool.map(call, [issuer.mint(roles=["viewer"]) for _ in range(8)]))
        # Load the keys in every worker (the readiness probe's nudge, or the requests).
        time.sleep(cooldown + 0.1)
        assert wait_for(lambda: call(old_key_token).status == 200, timeout=5)
        worker_states(api, until=ready, timeout=10)

        # Unknown kid: the new key is published, but the JWKS is slow.
        issuer.rotate()
        new_tokens = [issuer.mint(roles=["viewer"]) for _ in range(8)]
        with (
            issuer.jwks_response(issuer.jwks(), delay=delay),
            ThreadPoolExecutor(max_workers=12) as pool,
        ):
            waiting = pool.map(call, new_tokens)
            cached = pool.map(call, [old_key_token] * 4)
            unknown, known = list(waiting), list(cached)
        # The endpoint is fast again: the new kid is accepted after the back-off, and
        # until then answered 503 (the last fetch failed), never 401.
        answers: list[Answer] = []

        def new_kid_accepted() -> bool:
            answers.append(call(issuer.mint(roles=["viewer"])))
            return answers[-1].status == 200

        accepted = wait_for(new_kid_accepted, timeout=cooldown + 5, interval=0.02)

    for answer in cold + unknown:
        assert keys_unavailable(answer), (answer.status, answer.body)
        assert answer.elapsed < bound, answer.elapsed
    # Served at once, well below the timeout the others are waiting for.
    assert all(answer.status == 200 and answer.elapsed < 0.8 * timeout for answer in known), [
        (answer.status, answer.elapsed) for answer in known
    ]
    assert accepted
    assert {answer.status for answer in answers} <= {200, 503}
    print(
        f"\nmust-wait requests: cold max {max(a.elapsed for a in cold) * 1000:.0f} ms, "
        f"unknown kid max {max(a.elapsed for a in unknown) * 1000:.0f} ms "
        f"(timeout {timeout * 1000:.0f} ms); cached kid max "
        f"{max(a.elapsed for a in known) * 1000:.0f} ms"
    )


# -- readiness -----------------------------------------------------------------------------


def test_readiness_before_and_after_the_first_fetch(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """Without warm-up a worker has no keys: its first readiness answer is 503
    ``not_ready`` with no fetch made; once keys are fetched, 200 ``ready``. ``/health``
    stays plain liveness throughout."""
    with running_api(issuer, tmp_path, workers=2) as api:
        health = get(api, "/health")
        first = worker_states(api, first=True, timeout=10)
        served = get(api, "/products", token=issuer.mint(roles=["viewer"]))
        after = worker_states(api, until=ready, timeout=10)

    assert (health.status, health.json()) == (200, {"status": "ok"})
    assert len(first) == 2
    for answer in first.values():
        body = assert_readiness_shape(answer, issuer)
        entry = body["diagnostics"]["key_sets"][issuer.issuer]
        assert answer.status == 503
        assert (entry["loaded"], entry["fetches"], entry["key_count"], entry["age"]) == (
            False,
            0,
            0,
            None,
        )
    assert served.status == 200
    for answer in after.values():
        body = assert_readiness_shape(answer, issuer)
        entry = body["diagnostics"]["key_sets"][issuer.issuer]
        assert body["status"] == "ready"
        assert (entry["loaded"], entry["fresh"], entry["key_count"]) == (True, True, 1)
        assert entry["fetches"] == 1  # one fetch per worker, whoever asked for it
        assert entry["last_error"] is None
        assert isinstance(entry["age"], float)


def test_readiness_with_warm_up(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """EXAMPLE_API_WARM_UP=1: each worker fetched its keys as it started, so the very
    first readiness answer of every worker is already 200."""
    with running_api(issuer, tmp_path, workers=3, warm_up=True) as api:
        first = worker_states(api, first=True, timeout=10)
        jwks_at_start = issuer.jwks_requests  # every worker has booted by now

    assert len(first) == 3
    assert jwks_at_start == 3  # one fetch per worker, at start
    for answer in first.values():
        body = assert_readiness_shape(answer, issuer)
        entry = body["diagnostics"]["key_sets"][issuer.issuer]
        assert body["status"] == "ready"
        assert (entry["loaded"], entry["fresh"], entry["fetches"]) == (True, True, 1)


def test_warm_up_with_the_issuer_down_still_starts_and_recovers(
    issuer: ForgedIssuer, tmp_path: Path
) -> None:
    """A failed warm-up is logged, not fatal: the workers start and are not ready. When
    the issuer is back, a readiness probe alone (no traffic: a load balancer sends
    none to a worker that is not ready) gets the worker its keys."""
    with contextlib.ExitStack() as stack:
        with issuer.outage():
            api = stack.enter_context(
                running_api(issuer, tmp_path, workers=2, warm_up=True, jwks_cooldown=0.5)
            )
            # Every worker has booted (its warm-up failed) once it answers.
            down = worker_states(api, first=True, timeout=10)
        back = worker_states(api, until=ready, timeout=10)
        log_tail = api.log_tail()

    for answer in down.values():
        body = assert_readiness_shape(answer, issuer)
        assert body["status"] == "not_ready"
        assert "503" in body["diagnostics"]["key_sets"][issuer.issuer]["last_error"]
    assert all(ready(answer) for answer in back.values())
    assert "warm-up could not fetch every key set" in log_tail
    # What the public answer leaves out is in the log: which worker, which issuer, why.
    assert f"not ready: issuer {issuer.issuer}" in log_tail


def test_readiness_probes_do_not_hammer_the_issuer(issuer: ForgedIssuer, tmp_path: Path) -> None:
    """During an outage, a worker that is not ready starts at most one background fetch
    per ``max(cooldown, 1 s)``, however often it is probed, and probes answer at once."""
    with (
        issuer.outage(),
        running_api(issuer, tmp_path, workers=1, jwks_cooldown=0.5) as api,
        Client(api) as client,
    ):
        jwks_before = issuer.jwks_requests
        started = time.monotonic()
        answers: list[Answer] = []
        for _ in range(400):
            if time.monotonic() - started > 2.0:
                break
            answers.append(client.request("GET", "/health/ready"))
            time.sleep(0.005)
        span = time.monotonic() - started
        fetched = issuer.jwks_requests - jwks_before

    assert len(answers) > 50
    assert {answer.status for answer in answers} == {503}
    assert max(answer.elapsed for answer in answers) < 0.5
    assert 1 <= fetched <= int(span / 1.0) + 1, (fetched, span)


def test_traffic_is_not_refused_while_the_first_fetch_is_shared(
    issuer: ForgedIssuer, tmp_path: Path
) -> None:
    """A burst of first requests on a cold worker shares one fetch, and all get 200."""
    with running_api(issuer, tmp_path, workers=1, threads=8) as api:
        tokens = [issuer.mint(roles=["viewer"]) for _ in range(16)]
        barrier = threading.Barrier(16, timeout=10)

        def call(token: str) -> int:
            barrier.wait()
            return get(api, "/products?limit=1", token=token).status

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(call, tokens))
        fetched = issuer.jwks_requests

    assert statuses == [200] * 16
    assert fetched == 1
