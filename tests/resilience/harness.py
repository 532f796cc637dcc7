"""What the resilience suite shares: example_api under gunicorn with its log in a file,
keep-alive HTTP clients, the readiness poll that reaches every worker, and tokens.

Everything runs on 127.0.0.1; every loop here is bounded both in count and in time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimguard.testing import ForgedIssuer
from example_server import ROOT
from example_server import ExampleServer

from .diagnostics import APP

AUDIENCE = "https://products.example.com"
ROLES = "https://my-app.example.com/roles"
#: Socket timeout of every client request: far above any answer we expect.
CLIENT_TIMEOUT = 15.0

#: Retry-After must be an integer number of seconds (RFC 9110 §10.2.3, delay-seconds).
KEYS_UNAVAILABLE = "temporarily_unavailable"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)


class ApiServer(ExampleServer):
    """example_api under gunicorn, its log in the test's folder (see ExampleServer).

    It runs the build of :mod:`.diagnostics`: its readiness answers also carry the
    worker's pid and key-set internals, under ``diagnostics``.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        log_path: Path,
        *,
        workers: int,
        threads: int,
        warm_up: bool = False,
    ) -> None:
        super().__init__(
            config,
            workers=workers,
            threads=threads,
            warm_up=warm_up,
            log_path=log_path,
            app=APP,
            pythonpath=[ROOT / "tests"],
        )


@contextlib.contextmanager
def running_api(
    issuer: ForgedIssuer,
    tmp_path: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    warm_up: bool = False,
    **settings: Any,
) -> Iterator[ApiServer]:
    """example_api trusting ``issuer``, with ``CLAIMGUARD_<NAME>`` settings from keywords
    (``jwks_cache_ttl=1`` → ``CLAIMGUARD_JWKS_CACHE_TTL=1``)."""
    config: dict[str, Any] = {
        **issuer.config(),
        "EXAMPLE_API_DATABASE": str(tmp_path / "products.sqlite3"),
    }
    for name, value in settings.items():
        config[f"CLAIMGUARD_{name.upper()}"] = value
    server = ApiServer(
        config, tmp_path / "gunicorn.log", workers=workers, threads=threads, warm_up=warm_up
    )
    try:
        yield server
    finally:
        server.stop()


# -- HTTP ---------------------------------------------------------------------------


class Client:
    """One keep-alive HTTP/1.1 connection (``http.client``), reopened when the server
    closed it. Not thread-safe: one per client thread."""

    def __init__(self, server: ApiServer, *, timeout: float = CLIENT_TIMEOUT) -> None:
        self._server = server
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self._server.host, self._server.port, timeout=self._timeout
            )
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        send = dict(headers or {})
        if token is not None:
            send["Authorization"] = f"Bearer {token}"
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body).encode()
            send["Content-Type"] = "application/json"
        # A kept-alive connection may have been closed by the server between two
        # requests (gunicorn's keepalive); that, and only that, is retried once on a
        # new connection.
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._open()
            started = time.perf_counter()
            try:
                connection.request(method, path, body=payload, headers=send)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt == 2:
                    raise
                self.reconnects += 1
                continue
            elapsed = time.perf_counter() - started
            answer = Answer(
                response.status, {k.lower(): v for k, v in response.getheaders()}, data, elapsed
            )
            if response.will_close:
                self.close()
            return answer
        raise AssertionError("unreachable")  # pragma: no cover


def get(
    server: ApiServer,
    path: str,
    *,
    token: str | None = None,
    timeout: float = CLIENT_TIMEOUT,
) -> Answer:
    """One request on a new connection (so a different worker may answer it)."""
    with Client(server, timeout=timeout) as client:
        return client.request("GET", path, token=token, headers={"Connection": "close"})


def worker_states(
    server: ApiServer,
    *,
    until: Callable[[Answer], bool] | None = None,
    first: bool = False,
    timeout: float = 15.0,
    max_probes: int = 30000,
) -> dict[int, Answer]:
    """``GET /health/ready`` on new connections until every worker has answered (and,
    with ``until``, until every worker's latest answer satisfies it).

    Returns the latest answer per worker pid, read from the answer's ``diagnostics``
    (with ``first``, the first one: a worker's state before any probe could change it).
    Bounded by ``timeout`` and ``max_probes``; raises ``AssertionError`` when the bound
    is hit first.

    Probes go out in bursts of :data:`BURST` connections opened together, with a short
    pause between bursts. The kernel wakes every worker for each new connection and the
    first one scheduled takes it: probes sent one after another keep landing on the
    worker that just served one, for seconds on end, while connections that arrive
    together spread over the workers, which are all idle after the pause. With
    ``first``, one probe at a time: the first answer received from a worker is then the
    first it served. A connection that fails is no answer and spends no budget.
    """
    latest: dict[int, Answer] = {}
    deadline = time.monotonic() + timeout
    probes = 0
    failures: dict[str, int] = {}
    burst = 1 if first else BURST

    def satisfied() -> bool:
        if len(latest) < server.workers:
            return False
        return until is None or all(until(answer) for answer in latest.values())

    def probe(_: int) -> Answer | None:
        try:
            return get(server, "/health/ready", timeout=5)
        except OSError as exc:
            # After thousands of short connections the loopback can run short of ports
            # for a moment: back off; the time bound still holds.
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            time.sleep(0.02)
            return None

    with ThreadPoolExecutor(max_workers=burst) as pool:
        while not satisfied() and time.monotonic() < deadline and probes < max_probes:
            for answer in pool.map(probe, range(burst)):
                if answer is None:
                    continue
                probes += 1
                pid = diagnostics(answer)["pid"]
                if not (first and pid in latest):
                    latest[pid] = answer
            if not first:
                time.sleep(BURST_PAUSE)
    if not satisfied():
        states = {pid: answer.json() for pid, answer in latest.items()}
        raise AssertionError(
            f"workers did not all answer as wanted within {timeout}s / {max_probes} probes "
            f"({probes} answered, failed connections: {failures or 'none'}): {states}"
        )
    return dict(latest)


#: Connections opened together by :func:`worker_states`, and the pause between bursts.
BURST = 8
BURST_PAUSE = 0.02


def diagnostics(answer: Answer) -> dict[str, Any]:
    """The worker internals a readiness answer of the diagnostics build carries."""
    details: dict[str, Any] = answer.json()["diagnostics"]
    return details


def key_set(answer: Answer) -> dict[str, Any]:
    """The one key set of a readiness answer (these tests trust one issuer)."""
    key_sets: dict[str, Any] = diagnostics(answer)["key_sets"]
    assert len(key_sets) == 1, key_sets
    return next(iter(key_sets.values()))


def fetches_per_worker(server: ApiServer, **options: Any) -> dict[int, int]:
    return {
        pid: int(key_set(answer)["fetches"])
        for pid, answer in worker_states(server, **options).items()
    }


# -- tokens ---------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unknown_kid_token(issuer: ForgedIssuer, kid: str) -> str:
    """A well-formed token for the configured issuer whose ``kid`` is not published.

    The signature is random bytes of the right length: the key lookup, which comes
    first, already refuses the token, so there is no need to pay for an RSA signature.
    """
    header = {"alg": issuer.algorithm, "typ": "JWT", "kid": kid}
    payload = issuer.claims(roles=["viewer"])
    parts = [b64url(json.dumps(part).encode()) for part in (header, payload)]
    return ".".join([*parts, b64url(os.urandom(256))])


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def keys_unavailable(answer: Answer) -> bool:
    """A 503 with an integer ``Retry-After`` and claimguard's JSON body."""
    if answer.status != 503:
        return False
    retry_after = answer.headers.get("retry-after", "")
    try:
        body = answer.json()
    except ValueError:
        return False
    return (
        retry_after.isdigit()
        and int(retry_after) >= 1
        and answer.headers.get("content-type", "").startswith("application/json")
        and body.get("error") == KEYS_UNAVAILABLE
        and answer.headers.get("cache-control") == "no-store"
    )


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# -- background traffic ----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    sent: float  # time.monotonic() when the request was sent
    status: int
    elapsed: float
    keys_unavailable: bool  # a well-formed 503 (see keys_unavailable())


class Traffic:
    """Valid ``GET /products`` requests from a few threads until :meth:`stop`.

    Half the requests repeat a token (the verified-token cache answers), half carry a
    freshly minted one (the key lookup runs). Each thread reconnects every few requests
    so the traffic reaches every worker. Bounded by ``max_seconds`` and ``max_requests``
    per thread; a short pause between requests keeps the CPU for the server.
    """

    def __init__(
        self,
        server: ApiServer,
        issuer: ForgedIssuer,
        *,
        clients: int = 4,
        pause: float = 0.01,
        max_seconds: float = 30.0,
        max_requests: int = 5000,
        reconnect_every: int = 10,
        token: Callable[[], str] | None = None,
    ) -> None:
        self._server = server
        self._issuer = issuer
        self._pause = pause
        self._max_requests = max_requests
        self._reconnect_every = reconnect_every
        self._deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._repeated = issuer.mint(roles=["viewer"])
        self._token = token
        self.samples: list[Sample] = []
        self.errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]
        for thread in self._threads:
            thread.start()

    def _next_token(self, n: int) -> str:
        if self._token is not None:
            return self._token()
        return self._repeated if n % 2 else self._issuer.mint(roles=["viewer"])

    def _run(self, number: int) -> None:
        try:
            with Client(self._server) as client:
                for n in range(self._max_requests):
                    if self._stop.is_set() or time.monotonic() > self._deadline:
                        return
                    if n and n % self._reconnect_every == 0:
                        client.close()
                    token = self._next_token(n + number)
                    sent = time.monotonic()
                    answer = client.request("GET", "/products?limit=1", token=token)
                    sample = Sample(sent, answer.status, answer.elapsed, keys_unavailable(answer))
                    with self._lock:
                        self.samples.append(sample)
                    self._stop.wait(self._pause)
        except BaseException as exc:  # reported by stop()
            with self._lock:
                self.errors.append(exc)

    def stop(self) -> list[Sample]:
        """Stop the threads; the samples, in order of sending. Raises a client error."""
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT + 5)
        if self.errors:
            raise self.errors[0]
        return sorted(self.samples, key=lambda sample: sample.sent)

    def __enter__(self) -> Traffic:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def between(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [sample for sample in samples if start <= sample.sent < end]
