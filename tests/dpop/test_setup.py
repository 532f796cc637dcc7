"""DPoP set-up in the Flask layer: every bad ``CLAIMGUARD_DPOP_*`` value refused at
``init_app``, the warning about a per-process replay store, and a real Redis shared by
two instances of one API (replays caught across them, an outage answered 503, a restart
recovered).

The Redis tests run a real ``redis-server`` on 127.0.0.1 (tests/redis_server.py). They
are skipped when it or redis-py is missing, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

import claimguard.extension
from claimguard import ClaimGuard
from claimguard.errors import ConfigurationError
from claimguard.replay import RedisReplayStore
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from claimguard.testing import make_proof
from redis_server import RedisServer
from redis_server import require_redis

from .app import ORIGIN
from .app import assert_refused
from .app import build_app
from .app import dpop
from .app import send

WARNING = "CLAIMGUARD_DPOP_REPLAY_STORE is 'memory'"


# -- settings ----------------------------------------------------------------------------


class NoClaim:
    """An object that is no replay store."""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CLAIMGUARD_DPOP_MODE", "on"),
        ("CLAIMGUARD_DPOP_MODE", True),
        ("CLAIMGUARD_DPOP_ALGORITHMS", ["HS256"]),
        ("CLAIMGUARD_DPOP_ALGORITHMS", ["none"]),
        ("CLAIMGUARD_DPOP_ALGORITHMS", []),
        ("CLAIMGUARD_DPOP_MAX_AGE", 0),
        ("CLAIMGUARD_DPOP_MAX_AGE", "300"),
        ("CLAIMGUARD_DPOP_LEEWAY", -1),
        ("CLAIMGUARD_DPOP_REPLAY_STORE", "memcached://x"),
        ("CLAIMGUARD_DPOP_REPLAY_STORE", NoClaim()),
        ("CLAIMGUARD_DPOP_NONCE_SECRET", "too short"),
        ("CLAIMGUARD_DPOP_REQUIRE_NONCE", True),
        ("CLAIMGUARD_DPOP_REQUIRE_NONCE", "yes"),
        ("CLAIMGUARD_PUBLIC_URL", "https://api.example.com/?x=1"),
        ("CLAIMGUARD_PUBLIC_URL", "https://api.example.com/#top"),
        ("CLAIMGUARD_PUBLIC_URL", "https://user@api.example.com"),
        ("CLAIMGUARD_PUBLIC_URL", "ftp://api.example.com"),
        ("CLAIMGUARD_PUBLIC_URL", "api.example.com"),
    ],
)
def test_a_bad_setting_is_refused_at_init_app_naming_its_key(
    issuer: ForgedIssuer, key: str, value: Any
) -> None:
    app = Flask(__name__)
    issuer.configure(app)
    app.config[key] = value
    with pytest.raises(ConfigurationError, match=key):
        ClaimGuard(app)
    assert "claimguard" not in app.extensions


def test_good_settings_are_taken(issuer: ForgedIssuer) -> None:
    app = build_app(
        issuer,
        mode="required",
        CLAIMGUARD_DPOP_ALGORITHMS=["EdDSA", "ES256", "EdDSA"],
        CLAIMGUARD_DPOP_MAX_AGE=60,
        CLAIMGUARD_DPOP_LEEWAY=0,
        CLAIMGUARD_DPOP_NONCE_SECRET=b"b" * 32,
        CLAIMGUARD_DPOP_REQUIRE_NONCE=True,
        CLAIMGUARD_PUBLIC_URL="https://api.example.com/prefix/",
    )
    settings = app.extensions["claimguard"].settings.dpop
    assert settings.algorithms == ("EdDSA", "ES256")
    assert settings.public_url == "https://api.example.com/prefix"
    assert app.extensions["claimguard"].dpop_verifier.max_age == 60


# -- the warning about a per-process store -----------------------------------------------


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No worker hints, and the once-per-process warning not given yet."""
    monkeypatch.delitem(sys.modules, "gunicorn", raising=False)
    monkeypatch.delitem(sys.modules, "uwsgi", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.setattr(claimguard.extension, "_warned_about_replays", False)
    return monkeypatch


def _warnings(caplog: pytest.LogCaptureFixture, about: str = WARNING) -> list[str]:
    """claimguard's start-up warnings that begin with ``about``."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "claimguard"
        and record.levelno == logging.WARNING
        and record.getMessage().startswith(about)
    ]


HOST_WARNING = "DPoP is on but CLAIMGUARD_PUBLIC_URL is not set"


def test_without_a_public_url_the_client_chosen_host_is_warned_about(
    issuer: ForgedIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "claimguard")
    build_app(issuer)
    assert len(_warnings(caplog, HOST_WARNING)) == 1
    caplog.clear()
    build_app(issuer, CLAIMGUARD_PUBLIC_URL="https://api.example.com")
    off = Flask(__name__)
    issuer.configure(off)
    off.config["TRUSTED_HOSTS"] = ["api.example.com"]
    off.config["CLAIMGUARD_DPOP_MODE"] = "required"
    ClaimGuard(off)
    assert _warnings(caplog, HOST_WARNING) == []


@pytest.mark.parametrize("hint", ["gunicorn", "WEB_CONCURRENCY"])
def test_the_memory_store_is_warned_about_beside_other_workers(
    issuer: ForgedIssuer,
    single_process: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    hint: str,
) -> None:
    caplog.set_level(logging.WARNING, "claimguard")
    build_app(issuer)
    assert _warnings(caplog) == []  # one process: nothing to warn about
    if hint == "gunicorn":
        single_process.setitem(sys.modules, "gunicorn", types.ModuleType("gunicorn"))
    else:
        single_process.setenv("WEB_CONCURRENCY", "2")
    build_app(issuer)
    [message] = _warnings(caplog)
    assert message.startswith(WARNING)
    build_app(issuer)
    assert len(_warnings(caplog)) == 1  # once per process


def test_one_worker_by_web_concurrency_is_no_reason_to_warn(
    issuer: ForgedIssuer, single_process: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "claimguard")
    for value in ("1", "many"):
        single_process.setenv("WEB_CONCURRENCY", value)
        build_app(issuer)
    assert _warnings(caplog) == []


def test_a_shared_store_is_not_warned_about(
    issuer: ForgedIssuer, single_process: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if importlib.util.find_spec("redis") is None:
        require_redis()
    caplog.set_level(logging.WARNING, "claimguard")
    single_process.setitem(sys.modules, "gunicorn", types.ModuleType("gunicorn"))
    app = build_app(issuer, CLAIMGUARD_DPOP_REPLAY_STORE="redis://127.0.0.1:1/0")
    app.extensions["claimguard"].dpop_verifier.store.close()
    build_app(issuer, CLAIMGUARD_DPOP_REPLAY_STORE=_NeverSeen())
    assert _warnings(caplog) == []


def test_a_route_requiring_dpop_on_an_off_app_is_warned_about(
    issuer: ForgedIssuer,
    key: DPoPKey,
    single_process: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The app's mode is off, but a route's own mode uses the replay store all the same."""
    caplog.set_level(logging.WARNING, "claimguard")
    single_process.setitem(sys.modules, "gunicorn", types.ModuleType("gunicorn"))
    client = build_app(issuer, mode="off").test_client()
    assert _warnings(caplog) == []  # DPoP may never be used: no warning yet
    assert client.get("/auth").status_code == 401
    assert _warnings(caplog) == []
    assert send(client, key, issuer.mint(dpop_key=key), "/required").status_code == 200
    [message] = _warnings(caplog)
    assert message.startswith(WARNING)
    assert send(client, key, issuer.mint(dpop_key=key), "/required").status_code == 200
    assert len(_warnings(caplog)) == 1


class _NeverSeen:
    """A shared store of the app's own making: every proof is new to it."""

    def claim(self, key: str, ttl: int) -> bool:
        return True


# -- a real Redis shared by two instances ------------------------------------------------


@pytest.fixture
def instances(issuer: ForgedIssuer, redis_server: RedisServer) -> Iterator[tuple[Flask, Flask]]:
    """Two instances of one API (two apps, as two processes or hosts would build),
    sharing one Redis."""
    apps = tuple(build_app(issuer, CLAIMGUARD_DPOP_REPLAY_STORE=redis_server.url) for _ in range(2))
    try:
        yield apps[0], apps[1]
    finally:
        for app in apps:
            store = app.extensions["claimguard"].dpop_verifier.store
            assert isinstance(store, RedisReplayStore)
            store.close()


def test_a_proof_used_on_one_instance_is_refused_on_the_other(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str], instances: tuple[Flask, Flask]
) -> None:
    first, second = (app.test_client() for app in instances)
    token = issuer.mint(dpop_key=key)
    headers = dpop(token, make_proof(key, "GET", ORIGIN + "/auth", access_token=token))
    assert first.get("/auth", headers=headers).status_code == 200
    assert_refused(second.get("/auth", headers=headers), 401, "dpop.replay", reasons)
    assert_refused(first.get("/auth", headers=headers), 401, "dpop.replay", reasons)
    assert send(second, key, token).status_code == 200  # a new proof is welcome


def test_with_memory_stores_a_replay_to_the_other_instance_passes(
    issuer: ForgedIssuer, key: DPoPKey, reasons: list[str]
) -> None:
    """Why the store must be shared: each memory store knows its own process only."""
    first, second = (build_app(issuer).test_client() for _ in range(2))
    token = issuer.mint(dpop_key=key)
    headers = dpop(token, make_proof(key, "GET", ORIGIN + "/auth", access_token=token))
    assert first.get("/auth", headers=headers).status_code == 200
    assert_refused(first.get("/auth", headers=headers), 401, "dpop.replay", reasons)
    assert second.get("/auth", headers=headers).status_code == 200


def test_a_redis_outage_is_503_and_a_restart_recovers(
    issuer: ForgedIssuer,
    key: DPoPKey,
    reasons: list[str],
    redis_server: RedisServer,
    instances: tuple[Flask, Flask],
) -> None:
    clients = [app.test_client() for app in instances]
    token = issuer.mint(dpop_key=key)
    assert send(clients[0], key, token).status_code == 200
    redis_server.kill()
    for client in clients:
        started = time.monotonic()
        response = send(client, key, token)
        assert time.monotonic() - started < 2
        assert_refused(response, 503, "dpop.store_unavailable", reasons)
        assert int(response.headers["Retry-After"]) >= 1
        assert "WWW-Authenticate" not in response.headers
    redis_server.start()
    for client in clients:
        deadline = time.monotonic() + 5
        # The first command after a restart may meet a connection the outage broke.
        while (status := send(client, key, token).status_code) == 503:
            assert time.monotonic() < deadline, "the app did not recover"
            time.sleep(0.05)
        assert status == 200
    headers = dpop(token, make_proof(key, "GET", ORIGIN + "/auth", access_token=token))
    assert clients[0].get("/auth", headers=headers).status_code == 200
    assert_refused(clients[1].get("/auth", headers=headers), 401, "dpop.replay", reasons)


def test_secrets_stay_out_of_reprs_and_errors(issuer: ForgedIssuer) -> None:
    secret, password = "n" * 40, "s3cret-redis-password"
    app = build_app(
        issuer,
        CLAIMGUARD_DPOP_NONCE_SECRET=secret,
        CLAIMGUARD_DPOP_REPLAY_STORE=f"redis://:{password}@127.0.0.1:1/0",
    )
    state = app.extensions["claimguard"]
    shown = repr(state) + repr(state.settings) + repr(state.settings.dpop)
    assert secret not in shown
    assert password not in shown
    state.dpop_verifier.store.close()
    with pytest.raises(ConfigurationError) as info:
        build_app(issuer, CLAIMGUARD_DPOP_REPLAY_STORE=f"Redis://:{password}@127.0.0.1:1/0")
    assert password not in str(info.value)
    assert "CLAIMGUARD_DPOP_REPLAY_STORE" in str(info.value)
