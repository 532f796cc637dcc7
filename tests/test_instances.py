"""Two example_api instances behind one address: one PostgreSQL database, one Redis
replay store, one ForgedIssuer, and two gunicorn instances of 2 workers each.

The load balancer is :class:`instances_proxy.RoundRobinProxy`, a small round-robin
reverse proxy written for this test: a ``ThreadingHTTPServer`` on 127.0.0.1 that sends
each request (method, path, headers including ``Authorization``, ``DPoP`` and
``If-Match``, body) to the next instance in turn on a new connection, relays the
status, headers and body, records which instance answered each request, and when an
instance refuses the connection tries the other one (and counts it). A connection that
dies after a write was sent is answered 502: that write is *not acknowledged*.

Both instances run with ``CLAIMGUARD_DPOP_MODE=allowed``,
``CLAIMGUARD_DPOP_REPLAY_STORE=redis://127.0.0.1:<port>/0``,
``CLAIMGUARD_PUBLIC_URL=<the proxy's URL>`` (so a proof names the one public address
and is valid on either instance), and the same ``CLAIMGUARD_DPOP_NONCE_SECRET`` with
``CLAIMGUARD_DPOP_REQUIRE_NONCE=true`` (a nonce from one instance is good on the other).
They run the resilience suite's diagnostics build of example_api
(:class:`resilience.harness.ApiServer`), whose readiness answer names the worker and
its JWKS fetches; everything else is example_api as shipped.

The tests, in order (the last one stops instance A):

0. ``test_the_proxy_relays_and_fails_over``: the proxy alone, against two stub backends.
1. ``test_concurrent_writes_from_several_roles``: fixed counts of creates (editors),
   deletes (admins), read-modify-write increments with ``If-Match`` (editors, retried
   on 412), lists and refused writes (a viewer), all at once through the proxy. The
   final state equals the sum of the acknowledged writes exactly.
2. ``test_dpop_proof_is_single_use_across_instances``: a proof accepted by one instance
   is refused 401 ``invalid_dpop_proof`` by the other (the replay store is shared).
3. ``test_jwks_fetches_per_instance``: one JWKS fetch per worker, no discovery.
4. ``test_stop_one_instance_mid_run``: instance A is stopped (SIGTERM, gunicorn's
   graceful stop) while writers run through the proxy; afterwards B answers every
   request, and the final state accounts for every acknowledged write.

Marked ``slow`` (two gunicorn instances, about 20-30 s). PostgreSQL and Redis are
required under ``CI=true``; elsewhere the module skips, saying how to run it. Run with
``pytest -s`` to see the figures.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from typing import cast

import pytest

from claimguard.reasons import sentence
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof
from example_server import free_port
from instances_proxy import RoundRobinProxy
from postgres_server import PostgresServer
from postgres_server import missing_requirement as postgres_missing
from redis_server import RedisServer
from redis_server import redis_server_path
from resilience.harness import Answer
from resilience.harness import ApiServer
from resilience.harness import Client
from resilience.harness import fetches_per_worker
from resilience.harness import key_set

pytestmark = [pytest.mark.slow]

WORKERS = 2
THREADS = 4
#: The two instances, by the names the proxy records.
NAMES = ("A", "B")

# -- the concurrent run: fixed counts --------------------------------------------------
CREATORS = 4  # editor threads
CREATES_EACH = 25
ADMINS = 2  # admin threads
DELETES_EACH = 10  # products each admin deletes (made before the run, disjoint sets)
UPDATERS = 4  # editor threads doing read-modify-write increments
INCREMENTS_EACH = 15
CONTENDED = 2  # shared products the updaters all increment
INITIAL_STOCK = 1000
#: Tries of one increment (GET, then PATCH with If-Match) before it gives up.
MAX_TRIES = 60
VIEWER_LISTS = 30
VIEWER_WRITES = 5  # POSTs a viewer attempts: each must be 403 and create nothing

# -- the stop: counts after instance A is down -----------------------------------------
ACKED_BEFORE_STOP = 15  # creates acknowledged before A is stopped
REQUESTS_AFTER_STOP = 30  # writes each writer makes once A is down
#: Bounds of the stop test's writers (never reached in a normal run).
WRITER_MAX_REQUESTS = 3000
WRITER_MAX_SECONDS = 40.0

#: Bound of any thread join and any wait here.
JOIN_TIMEOUT = 60.0

HOW_TO_RUN = (
    "needs PostgreSQL and Redis: apt-get install postgresql redis-server, "
    "pip install -e '.[dev]', then CI=true pytest tests/test_instances.py"
)

# -- set-up -----------------------------------------------------------------------------


def _require_services() -> None:
    """Skip with one line saying how to run this module, or fail under CI=true."""
    problems = []
    postgres = postgres_missing()
    if postgres is not None:
        problems.append(postgres.split(";")[0])
    for module in ("psycopg_pool", "redis"):
        if importlib.util.find_spec(module) is None:
            problems.append(f"the {module} package is missing")
    if redis_server_path() is None:
        problems.append("redis-server not found")
    if not problems:
        return
    message = f"{'; '.join(problems)}: {HOW_TO_RUN}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: this module must run)")
    pytest.skip(message)


@dataclass
class Cluster:
    issuer: ForgedIssuer
    proxy: RoundRobinProxy
    instances: dict[str, ApiServer]
    redis: RedisServer
    figures: dict[str, Any] = field(default_factory=dict)

    def client(self) -> Client:
        """A keep-alive client of the proxy (the harness's Client needs a host and port)."""
        return Client(cast(ApiServer, self.proxy))

    def direct(self, name: str) -> Client:
        """A client of one instance, bypassing the proxy."""
        return Client(self.instances[name])

    def logs(self) -> str:
        return "\n".join(
            f"--- instance {name} log ---\n{server.log_tail()}"
            for name, server in self.instances.items()
        )


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Cluster]:
    _require_services()
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    folder = tmp_path_factory.mktemp("instances")
    started = time.monotonic()
    proxy = RoundRobinProxy()  # bound now: its URL goes into the instances' settings
    with ForgedIssuer() as issuer, RedisServer(folder) as redis, contextlib.closing(proxy):
        database = postgres.create_database()
        config = {
            **issuer.config(),
            "EXAMPLE_API_DATABASE": database,
            "CLAIMGUARD_DPOP_MODE": "allowed",
            "CLAIMGUARD_DPOP_REPLAY_STORE": redis.url,
            "CLAIMGUARD_PUBLIC_URL": proxy.url,
            "CLAIMGUARD_DPOP_NONCE_SECRET": secrets.token_urlsafe(48),
            "CLAIMGUARD_DPOP_REQUIRE_NONCE": "true",
        }
        instances: dict[str, ApiServer] = {}
        try:
            for name in NAMES:
                instances[name] = ApiServer(
                    config, folder / f"gunicorn-{name}.log", workers=WORKERS, threads=THREADS
                )
            proxy.backends = {
                name: (server.host, server.port) for name, server in instances.items()
            }
            proxy.start()
            cluster = Cluster(issuer, proxy, instances, redis)
            cluster.figures["start_up_seconds"] = round(time.monotonic() - started, 2)
            yield cluster
            report(cluster.figures, folder)
        finally:
            for server in instances.values():
                server.stop()
            postgres.drop_database(database)


def report(figures: dict[str, Any], folder: Path) -> None:
    """Print the figures (``pytest -s``) and write them to JSON in the module's tmp dir."""
    path = folder / "instances.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))
    print("\n--- test_instances ---")
    for key, value in figures.items():
        print(f"{key}: {json.dumps(value, sort_keys=True, default=str)}")
    print(f"(written to {path})")


# -- helpers ----------------------------------------------------------------------------


def list_all(client: Client, token: str) -> list[dict[str, Any]]:
    """Every product, page by page (nothing writes while this runs)."""
    items: list[dict[str, Any]] = []
    for page in range(100):  # bounded: far above the products these tests make
        answer = client.request("GET", f"/products?limit=100&offset={page * 100}", token=token)
        assert answer.status == 200, answer.body
        body = answer.json()
        items.extend(body["items"])
        if len(items) >= body["total"] or not body["items"]:
            assert len(items) == body["total"], body
            return items
    raise AssertionError("more than 100 pages of products")


def create(client: Client, token: str, name: str, stock: int = 0) -> Answer:
    return client.request(
        "POST", "/products", token=token, body={"name": name, "price": 1.5, "stock": stock}
    )


@dataclass
class Tally:
    """What the writers saw, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    attempted: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    unacked: Counter[str] = field(default_factory=Counter)  # 502: the write may or may not be
    created: dict[int, str] = field(default_factory=dict)  # acked creates: id -> name
    unacked_names: list[str] = field(default_factory=list)  # creates answered 502
    deleted: set[int] = field(default_factory=set)  # acked deletes
    increments: Counter[int] = field(default_factory=Counter)  # acked, per product id
    unacked_increments: Counter[int] = field(default_factory=Counter)
    preconditions_failed: int = 0  # 412s
    gave_up: int = 0
    unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def note(self, kind: str, answer: Answer, acked_status: int) -> bool:
        with self.lock:
            self.attempted[kind] += 1
            if answer.status == acked_status:
                self.acked[kind] += 1
                return True
            if answer.status == 502:
                self.unacked[kind] += 1
            else:
                self.unexpected.append(f"{kind}: {answer.status} {answer.body[:200]!r}")
            return False


def increment(
    client: Client, token: str, product_id: int, tally: Tally, kind: str = "increment"
) -> bool:
    """stock + 1 by read-modify-write with If-Match, retried on 412 (at most MAX_TRIES).

    True when acknowledged (200). A 502 on the PATCH is an unacknowledged increment: it
    is tallied, and the next try reads the product again (it may have happened)."""
    for _ in range(MAX_TRIES):
        read = client.request("GET", f"/products/{product_id}", token=token)
        if read.status != 200:
            with tally.lock:
                tally.unexpected.append(f"read {product_id}: {read.status} {read.body[:200]!r}")
            return False
        stock = read.json()["stock"]
        answer = client.request(
            "PATCH",
            f"/products/{product_id}",
            token=token,
            body={"stock": stock + 1},
            headers={"If-Match": read.headers["etag"]},
        )
        if answer.status == 412:
            with tally.lock:
                tally.attempted[kind] += 1
                tally.preconditions_failed += 1
            continue
        if tally.note(kind, answer, 200):
            assert answer.json()["stock"] == stock + 1
            with tally.lock:
                tally.increments[product_id] += 1
            return True
        if answer.status == 502:
            with tally.lock:
                tally.unacked_increments[product_id] += 1
            continue
        return False
    with tally.lock:
        tally.gave_up += 1
    return False


def run_threads(targets: list[Callable[[], None]], tally: Tally) -> None:
    """Start every target at once (a barrier), join them all (bounded)."""
    barrier = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            target()
        except BaseException as exc:
            with tally.lock:
                tally.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = sum(thread.is_alive() for thread in threads)
    assert alive == 0, f"{alive} client threads still running after {JOIN_TIMEOUT} s"


# -- 0. the proxy itself ----------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """A backend that answers 200 with what it received, as JSON."""

    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.rfile.read(length).decode(),
        }
        data = json.dumps(received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"echo"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Drop(BaseHTTPRequestHandler):
    """A backend that reads the request and closes the connection without answering."""

    def _drop(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True

    do_GET = do_POST = _drop

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _backend(handler: type[BaseHTTPRequestHandler]) -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_the_proxy_relays_and_fails_over() -> None:
    """What the tests below rely on: headers and body relayed both ways; a refused
    connection retried on the other instance for any method; a connection dropped after
    the request retried for GET only, a POST answered 502 (not acknowledged)."""
    with _backend(_Echo) as echo, _backend(_Drop) as drop:
        nothing = ("127.0.0.1", free_port())  # nothing listens there: refused
        with (
            RoundRobinProxy({"down": nothing, "up": echo}) as proxy,
            Client(cast(ApiServer, proxy)) as client,
        ):
            sent = {"Authorization": "DPoP t", "DPoP": "p", "If-Match": '"v1"'}
            for method in ("POST", "GET", "POST", "GET"):
                answer = client.request(method, "/x?y=1", body={"a": 1}, headers=sent)
                assert answer.status == 200
                assert answer.headers["etag"] == '"echo"'
                echoed = answer.json()
                assert (echoed["method"], echoed["path"]) == (method, "/x?y=1")
                assert {k.lower(): v for k, v in sent.items()}.items() <= echoed["headers"].items()
                assert echoed["headers"]["connection"] == "close"
                assert json.loads(echoed["body"]) == {"a": 1}
            assert proxy.served_by() == Counter({"up": 4})
            assert proxy.failovers() == 2  # every other request tried "down" first
        with (
            RoundRobinProxy({"drop": drop, "up": echo}) as proxy,
            Client(cast(ApiServer, proxy)) as client,
        ):
            statuses = [client.request(m, "/x", body={}).status for m in ("POST", "POST")]
            statuses += [client.request(m, "/x").status for m in ("GET", "GET")]
            assert statuses == [502, 200, 200, 200]
            assert [(r.instance, r.dropped_by) for r in proxy.records()] == [
                (None, ("drop",)),
                ("up", ()),
                ("up", ("drop",)),
                ("up", ()),
            ]


# -- 1. concurrent writes from several roles --------------------------------------------


def test_concurrent_writes_from_several_roles(cluster: Cluster) -> None:
    issuer = cluster.issuer
    editor = [issuer.mint(roles=["editor"], sub=f"auth0|editor-{n}") for n in range(8)]
    admin = [issuer.mint(roles=["admin"], sub=f"auth0|admin-{n}") for n in range(ADMINS)]
    viewer = issuer.mint(roles=["viewer"], sub="auth0|viewer")
    tally = Tally()

    # Before the run: the contended products and each admin's products to delete.
    with cluster.client() as client:
        ids_before = {item["id"] for item in list_all(client, viewer)}
        before = len(ids_before)
        contended = []
        for n in range(CONTENDED):
            answer = create(client, admin[0], f"contended-{n}", INITIAL_STOCK)
            assert tally.note("create", answer, 201), answer.body
            contended.append(answer.json()["id"])
            tally.created[contended[-1]] = f"contended-{n}"
        doomed: list[list[int]] = []
        for a in range(ADMINS):
            ids = []
            for n in range(DELETES_EACH):
                answer = create(client, admin[a], f"doomed-{a}-{n}")
                assert tally.note("create", answer, 201), answer.body
                ids.append(answer.json()["id"])
                tally.created[ids[-1]] = f"doomed-{a}-{n}"
            doomed.append(ids)
    setup_creates = tally.acked["create"]

    def creator(t: int) -> Callable[[], None]:
        def run() -> None:
            with cluster.client() as client:
                for n in range(CREATES_EACH):
                    name = f"created-{t}-{n}"
                    answer = create(client, editor[t], name)
                    if tally.note("create", answer, 201):
                        with tally.lock:
                            tally.created[answer.json()["id"]] = name

        return run

    def deleter(a: int) -> Callable[[], None]:
        def run() -> None:
            with cluster.client() as client:
                for product_id in doomed[a]:
                    answer = client.request("DELETE", f"/products/{product_id}", token=admin[a])
                    if tally.note("delete", answer, 204):
                        with tally.lock:
                            tally.deleted.add(product_id)

        return run

    def updater(t: int) -> Callable[[], None]:
        def run() -> None:
            token = editor[CREATORS + t]
            with cluster.client() as client:
                # An editor may not delete: refused, and nothing changes.
                answer = client.request("DELETE", f"/products/{contended[0]}", token=token)
                tally.note("editor_delete", answer, 403)
                for n in range(INCREMENTS_EACH):
                    increment(client, token, contended[n % CONTENDED], tally)

        return run

    def viewing() -> None:
        upper = before + setup_creates + CREATORS * CREATES_EACH
        with cluster.client() as client:
            for n in range(VIEWER_LISTS):
                answer = client.request("GET", "/products?limit=100", token=viewer)
                tally.note("list", answer, 200)
                if answer.status == 200:
                    total = answer.json()["total"]
                    if not before + CONTENDED <= total <= upper:
                        with tally.lock:
                            tally.unexpected.append(f"list total {total} out of bounds")
                if n < VIEWER_WRITES:
                    answer = create(client, viewer, f"viewer-{n}")
                    tally.note("viewer_create", answer, 403)

    started = time.monotonic()
    targets = [creator(t) for t in range(CREATORS)]
    targets += [deleter(a) for a in range(ADMINS)]
    targets += [updater(t) for t in range(UPDATERS)]
    targets.append(viewing)
    run_threads(targets, tally)
    elapsed = time.monotonic() - started

    assert not tally.errors, tally.errors
    assert not tally.unexpected, (tally.unexpected[:10], cluster.logs())
    assert tally.gave_up == 0
    served = cluster.proxy.served_by(since=started)

    # The final state, read through the proxy.
    with cluster.client() as client:
        items = list_all(client, viewer)
        for product_id in sorted(tally.deleted):
            answer = client.request("GET", f"/products/{product_id}", token=viewer)
            assert answer.status == 404, (product_id, answer.status)
    by_id = {item["id"]: item for item in items}
    expected_ids = set(tally.created) - tally.deleted
    cluster.figures["concurrent_writes"] = {
        "seconds": round(elapsed, 2),
        "attempted": dict(tally.attempted),
        "acknowledged": dict(tally.acked),
        "precondition_failed_412": tally.preconditions_failed,
        "increments_per_contended_product": {str(k): v for k, v in tally.increments.items()},
        "final_total": len(items),
        "final_stock": {str(i): by_id[i]["stock"] for i in contended if i in by_id},
        "served_by": {str(k): v for k, v in served.items()},
    }

    # Every write acknowledged, as the fixed counts say.
    assert tally.acked["create"] == setup_creates + CREATORS * CREATES_EACH
    assert tally.acked["delete"] == ADMINS * DELETES_EACH
    assert tally.acked["increment"] == UPDATERS * INCREMENTS_EACH
    assert tally.acked["viewer_create"] == VIEWER_WRITES  # all refused 403
    assert tally.acked["editor_delete"] == UPDATERS  # all refused 403
    assert tally.acked["list"] == VIEWER_LISTS
    # The final state is exactly the sum of the acknowledged writes.
    assert len(items) == before + tally.acked["create"] - tally.acked["delete"]
    assert set(by_id) == ids_before | expected_ids
    assert not (set(by_id) & tally.deleted)
    assert not [item for item in items if item["name"].startswith("viewer-")]
    for product_id in contended:
        assert by_id[product_id]["stock"] == INITIAL_STOCK + tally.increments[product_id], (
            "lost update",
            product_id,
            by_id[product_id],
            tally.increments[product_id],
        )
    # Contention was real, and both instances served.
    assert tally.preconditions_failed > 0
    assert set(served) == set(NAMES), served


# -- 2. DPoP across instances -----------------------------------------------------------


def dpop_get(client: Client, token: str, proof: str, path: str = "/products") -> Answer:
    return client.request("GET", path, headers={"Authorization": f"DPoP {token}", "DPoP": proof})


def assert_replay_refused(answer: Answer) -> None:
    assert answer.status == 401, answer.body
    assert answer.json()["error"] == "invalid_dpop_proof", answer.body
    assert answer.json()["error_description"] == sentence("dpop.replay"), answer.body


def test_dpop_proof_is_single_use_across_instances(cluster: Cluster) -> None:
    key = DPoPKey.generate()
    token = cluster.issuer.mint(roles=["viewer"], dpop_key=key)
    url = f"{cluster.proxy.url}/products"  # htu: the public address, for both instances
    results: dict[str, Any] = {}
    with cluster.direct("A") as a, cluster.direct("B") as b, cluster.client() as proxied:
        # A nonce from A (CLAIMGUARD_DPOP_REQUIRE_NONCE): the same secret makes it good on B.
        first = dpop_get(a, token, make_proof(key, "GET", url, access_token=token))
        assert first.status == 401, first.body
        assert first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["dpop-nonce"]

        # A proof accepted by A, then the same proof sent straight to B: a replay.
        proof = make_proof(key, "GET", url, access_token=token, nonce=nonce)
        assert dpop_get(a, token, proof).status == 200
        replayed = dpop_get(b, token, proof)
        assert_replay_refused(replayed)
        results["A_then_B"] = [200, replayed.status, replayed.json()["error"]]

        # The other way round, and B accepts A's nonce (so B refused the replay above
        # for the replay, not for the nonce).
        proof = make_proof(key, "GET", url, access_token=token, nonce=nonce)
        assert dpop_get(b, token, proof).status == 200
        replayed = dpop_get(a, token, proof)
        assert_replay_refused(replayed)
        results["B_then_A"] = [200, replayed.status, replayed.json()["error"]]

        # Through the proxy: round robin sends the two copies to different instances.
        since = time.monotonic()
        proof = make_proof(key, "GET", url, access_token=token, nonce=nonce)
        accepted = dpop_get(proxied, token, proof)
        replayed = dpop_get(proxied, token, proof)
        served = [(r.instance, r.status) for r in cluster.proxy.records(since)]
        assert accepted.status == 200, accepted.body
        assert_replay_refused(replayed)
        assert [status for _, status in served] == [200, 401]
        assert served[0][0] != served[1][0], served
        results["through_proxy"] = served
    cluster.figures["dpop"] = results


# -- 3. JWKS fetches ----------------------------------------------------------------------


def test_jwks_fetches_per_instance(cluster: Cluster) -> None:
    """Each worker fetches the key set once (on its first token, or when a readiness
    probe finds it missing): at most WORKERS x 2 instances, and no discovery."""
    per_instance: dict[str, dict[int, int]] = {}
    for name, server in cluster.instances.items():
        per_instance[name] = fetches_per_worker(
            server, until=lambda answer: bool(key_set(answer)["loaded"]), timeout=20
        )
    issuer = cluster.issuer
    cluster.figures["jwks"] = {
        "per_worker": {
            name: {str(pid): n for pid, n in d.items()} for name, d in per_instance.items()
        },
        "per_instance": {name: sum(d.values()) for name, d in per_instance.items()},
        "issuer_jwks_requests": issuer.jwks_requests,
        "issuer_discovery_requests": issuer.discovery_requests,
    }
    for name, fetches in per_instance.items():
        assert len(fetches) == WORKERS, (name, fetches)
        assert all(n == 1 for n in fetches.values()), (name, fetches)
    assert issuer.jwks_requests == sum(sum(d.values()) for d in per_instance.values())
    assert issuer.jwks_requests <= WORKERS * len(NAMES)
    assert issuer.discovery_requests == 0  # CLAIMGUARD_JWKS_URL is set: no discovery


# -- 4. stop one instance mid-run -------------------------------------------------------


def test_stop_one_instance_mid_run(cluster: Cluster) -> None:
    issuer = cluster.issuer
    editor = issuer.mint(roles=["editor"], sub="auth0|stop-editor")
    counter_editor = issuer.mint(roles=["editor"], sub="auth0|stop-counter")
    viewer = issuer.mint(roles=["viewer"], sub="auth0|stop-viewer")
    tally = Tally()
    with cluster.client() as client:
        before = list_all(client, viewer)
        answer = create(client, editor, "stop-counter", INITIAL_STOCK)
        assert answer.status == 201
        counter_id = answer.json()["id"]

    stopped = threading.Event()
    acked_before_stop = threading.Event()
    after: Counter[str] = Counter()  # writes each writer made once A was down

    def creator() -> None:
        deadline = time.monotonic() + WRITER_MAX_SECONDS
        with cluster.client() as client:
            for n in range(WRITER_MAX_REQUESTS):
                if after["create"] >= REQUESTS_AFTER_STOP or time.monotonic() > deadline:
                    return
                down = stopped.is_set()
                name = f"stop-created-{n}"
                answer = create(client, editor, name)
                with tally.lock:
                    if answer.status == 201:
                        tally.created[answer.json()["id"]] = name
                    elif answer.status == 502:
                        tally.unacked_names.append(name)
                tally.note("create", answer, 201)
                if tally.acked["create"] >= ACKED_BEFORE_STOP:
                    acked_before_stop.set()
                if down:
                    after["create"] += 1

    def counter() -> None:
        deadline = time.monotonic() + WRITER_MAX_SECONDS
        with cluster.client() as client:
            for _ in range(WRITER_MAX_REQUESTS):
                if after["increment"] >= REQUESTS_AFTER_STOP or time.monotonic() > deadline:
                    return
                down = stopped.is_set()
                increment(client, counter_editor, counter_id, tally)
                if down:
                    after["increment"] += 1

    threads = [threading.Thread(target=target) for target in (creator, counter)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        assert acked_before_stop.wait(JOIN_TIMEOUT), "the writer made no progress"
        stop_began = time.monotonic()
        cluster.instances["A"].stop()  # SIGTERM: gunicorn's graceful stop, then wait
        stop_ended = time.monotonic()
        assert cluster.instances["A"].process.poll() is not None
    finally:
        stopped.set()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert not tally.errors, tally.errors
    assert not tally.unexpected, (tally.unexpected[:10], cluster.logs())
    assert tally.gave_up == 0
    assert after["create"] == after["increment"] == REQUESTS_AFTER_STOP

    records = cluster.proxy.records(since=started)
    during = [r for r in records if stop_began <= r.started < stop_ended]
    later = [r for r in records if r.started >= stop_ended]

    with cluster.client() as client:
        items = list_all(client, viewer)
        final_ids = {item["id"] for item in items}
        missing = [
            product_id
            for product_id in tally.created
            if client.request("GET", f"/products/{product_id}", token=viewer).status != 200
        ]
    names = {item["name"] for item in items}
    found_unacked = [name for name in tally.unacked_names if name in names]
    found_unacked_ids = {item["id"] for item in items if item["name"] in found_unacked}
    stock = next(item["stock"] for item in items if item["id"] == counter_id)
    unacked_increments = tally.unacked_increments[counter_id]
    cluster.figures["stop"] = {
        "stop_seconds": round(stop_ended - stop_began, 2),
        "attempted": dict(tally.attempted),
        "acknowledged": dict(tally.acked),
        "unacknowledged_502": dict(tally.unacked),
        "unacknowledged_creates_found_afterwards": len(found_unacked),
        "precondition_failed_412": tally.preconditions_failed,
        "requests_before_stop": len(records) - len(during) - len(later),
        "requests_during_stop": {
            "count": len(during),
            "served_by": {str(k): v for k, v in Counter(r.instance for r in during).items()},
            "refused_then_retried": sum(len(r.refused_by) for r in during),
            "dropped": sum(len(r.dropped_by) for r in during),
        },
        "requests_after_stop": {
            "count": len(later),
            "served_by": {str(k): v for k, v in Counter(r.instance for r in later).items()},
            "refused_by_A_then_served_by_B": sum(len(r.refused_by) for r in later),
        },
        "counter": {
            "initial": INITIAL_STOCK,
            "acked_increments": tally.increments[counter_id],
            "unacked_increments": unacked_increments,
            "final": stock,
        },
    }

    # After A was down: B answered every request, each correctly; A's refusals were
    # retried on B by the proxy.
    assert later, "no request after the stop"
    assert all(r.instance == "B" for r in later), Counter(r.instance for r in later)
    assert all(r.status in {200, 201, 412} for r in later), Counter(r.status for r in later)
    assert all(set(r.refused_by) <= {"A"} for r in later)
    assert cluster.proxy.failovers(since=stop_ended) >= 1
    # The acknowledged writes: every acknowledged create exists, and the total is the
    # products before + acked creates + the unacknowledged creates that did happen
    # (found by their unique names; at most the number answered 502).
    assert not missing, missing
    assert len(found_unacked) <= tally.unacked["create"]
    expected = len(before) + 1 + tally.acked["create"] + len(found_unacked)
    assert len(items) == expected, (len(items), expected)
    before_ids = {item["id"] for item in before}
    assert final_ids == before_ids | {counter_id} | set(tally.created) | found_unacked_ids
    # The counter: initial + acked increments, plus at most the unacknowledged ones.
    low = INITIAL_STOCK + tally.increments[counter_id]
    assert low <= stock <= low + unacked_increments, cluster.figures["stop"]["counter"]
