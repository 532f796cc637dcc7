"""A hostile (compromised, broken or slow) JWKS endpoint: every answer but a
good key set is a failed fetch that keeps the last good keys; each fetch is bounded in
time (one deadline for connect + headers + body) and memory (a size cap, also after
decompression); redirects are never followed; duplicate kids and oversized sets cannot
smuggle in a key.

Each case first loads the issuer's genuine key set, lets it go stale (fake clock), then
turns the endpoint hostile and forces a refresh.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claimguard import JWKSCache
from claimguard import TokenValidator
from claimguard import jwks as jwks_module
from claimguard.discovery import discovery_url
from claimguard.errors import InvalidTokenError
from claimguard.errors import KeySetUnavailableError
from claimguard.fetching import FetchError
from claimguard.keys import MAX_KEYS
from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey
from expected import ManualClock as Clock
from loopback import dribble
from loopback import reply
from loopback import silent
from loopback import stream

from .attacks import AUDIENCE
from .attacks import ROLES
from .attacks import SIGNATURE
from .attacks import UNKNOWN_KEY
from .attacks import HostileServer
from .attacks import Script
from .attacks import bearer
from .attacks import build_api
from .attacks import check_refusal

TIMEOUT = 0.5
#: A failed refresh must end within the fetch deadline plus scheduling slack.
BOUND = TIMEOUT + 1.0
TWENTY_MB = 20 * 1024 * 1024


@dataclass
class Loaded:
    """A validator whose key set was loaded from ``url`` and has gone stale."""

    url: str
    cache: JWKSCache
    validator: TokenValidator
    clock: Clock


@pytest.fixture
def loaded(hostile: HostileServer, issuer: ForgedIssuer) -> Loaded:
    url = hostile.route("/jwks", reply(200, json.dumps(issuer.jwks())))
    clock = Clock()
    cache = JWKSCache(url, ttl=60, cooldown=0, max_stale=3600, timeout=TIMEOUT, clock=clock)
    validator = TokenValidator(
        issuers={issuer.issuer: cache},
        audiences=AUDIENCE,
        roles_claims=[ROLES],
        token_cache_size=0,
    )
    assert cache.refresh()
    clock.advance(61)  # past the TTL: the next refresh would replace the set
    return Loaded(url, cache, validator, clock)


def refresh_fails_in_time(loaded: Loaded) -> float:
    started = time.perf_counter()
    assert not loaded.cache.refresh()
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND, f"the failed fetch took {elapsed:.2f}s"
    assert loaded.cache.wait_until_idle(BOUND)
    return elapsed


def good_keys_kept(loaded: Loaded, issuer: ForgedIssuer) -> None:
    status = loaded.cache.status()
    assert status.loaded
    assert status.key_count == 1
    assert status.last_error is not None
    assert loaded.validator.validate(issuer.mint()).subject == "auth0|forged-user"


def _gzip(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * 65536
    return b"".join(
        [*(compressor.compress(chunk) for _ in range(size // 65536)), compressor.flush()]
    )


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """64 MiB of JSON white space in 64 KiB of gzip."""
    return _gzip(64 * 1024 * 1024)


def _answers(issuer: ForgedIssuer, gzip_bomb: bytes) -> dict[str, Script]:
    good = json.dumps(issuer.jwks())
    good_jwk = issuer.jwks()["keys"][0]
    unusable = [
        {"kty": "oct", "kid": "o", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {**good_jwk, "kid": "enc", "use": "enc"},
        {**good_jwk, "kid": "private", "d": "AQAB"},
    ]
    text = {"Content-Type": "text/html"}
    return {
        "garbage-bytes": reply(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),
        "html-login-page": reply(200, "<html><form>Sign in</form></html>", text),
        "empty-body": reply(200, b""),
        "json-null": reply(200, "null"),
        "json-array-of-sets": reply(200, json.dumps([issuer.jwks()])),
        "json-string": reply(200, json.dumps(good)),
        "keys-null": reply(200, '{"keys": null}'),
        "keys-object": reply(200, json.dumps({"keys": good_jwk})),
        "keys-numbers": reply(200, '{"keys": [1, 2, 3]}'),
        "keys-empty": reply(200, '{"keys": []}'),
        "only-unusable-keys": reply(200, json.dumps({"keys": unusable})),
        "nan-literal": reply(200, good[:-1] + ', "x": NaN}'),
        "truncated": reply(200, good[: len(good) // 2]),
        "deeply-nested": reply(200, b'{"keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "duplicate-member-keys": reply(200, good[:-1] + ', "keys": []}'),
        "status-401": reply(401, good),
        "status-404": reply(404, good),
        "status-500": reply(500, good),
        "status-503": reply(503, good),
        "status-204": reply(204, b""),
        "content-length-20-mb": stream(TWENTY_MB, declare_length=True),
        "streamed-20-mb": stream(TWENTY_MB, declare_length=False),
        "gzip-bomb": reply(
            200, gzip_bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        ),
        "body-one-byte-per-50-ms": dribble(good.encode(), pause=0.05),
        "connects-then-silent": silent(5),
        "header-flood": reply(200, good, {f"X-H{i}": "x" for i in range(200)}),
        "header-line-of-70-kb": reply(200, good, {"X-Long": "x" * 70_000}),
    }


ANSWERS = [
    "garbage-bytes",
    "html-login-page",
    "empty-body",
    "json-null",
    "json-array-of-sets",
    "json-string",
    "keys-null",
    "keys-object",
    "keys-numbers",
    "keys-empty",
    "only-unusable-keys",
    "nan-literal",
    "truncated",
    "deeply-nested",
    "status-401",
    "status-404",
    "status-500",
    "status-503",
    "status-204",
    "content-length-20-mb",
    "streamed-20-mb",
    "gzip-bomb",
    "body-one-byte-per-50-ms",
    "connects-then-silent",
    "header-flood",
    "header-line-of-70-kb",
]


@pytest.mark.parametrize("case", ANSWERS)
def test_hostile_answer_is_a_failed_fetch_that_keeps_the_good_keys(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, gzip_bomb: bytes, case: str
) -> None:
    hostile.route("/jwks", _answers(issuer, gzip_bomb)[case])
    refresh_fails_in_time(loaded)
    good_keys_kept(loaded, issuer)


def test_duplicate_member_keys_in_the_set(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, gzip_bomb: bytes
) -> None:
    """``{"keys": [good], "keys": []}``: Python's json keeps the last, so this reads as
    an empty set; either reading must fail closed (keep the good keys, not crash)."""
    hostile.route("/jwks", _answers(issuer, gzip_bomb)["duplicate-member-keys"])
    refresh_fails_in_time(loaded)
    good_keys_kept(loaded, issuer)


# -- did not read it all: bounded memory ------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False], ids=["declared", "undeclared"])
def test_20_mb_body_is_not_read_to_the_end(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, declare_length: bool
) -> None:
    hostile.route("/jwks", stream(TWENTY_MB, declare_length=declare_length))
    tracemalloc.start()
    try:
        refresh_fails_in_time(loaded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while refusing"
    deadline = time.monotonic() + 3
    while not hostile.hangups["/jwks"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hostile.hangups["/jwks"] == 1, "the server never saw the client hang up"
    assert hostile.sent["/jwks"] < TWENTY_MB
    good_keys_kept(loaded, issuer)


def test_gzip_bomb_is_cut_while_decompressing(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, gzip_bomb: bytes
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    hostile.route("/jwks", reply(200, gzip_bomb, headers))
    tracemalloc.start()
    try:
        refresh_fails_in_time(loaded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a 64 MiB bomb"
    good_keys_kept(loaded, issuer)


# -- slow endpoints: one deadline for the whole fetch ----------------------------------------


def test_body_dribbled_one_byte_per_50_ms(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer
) -> None:
    """Every read returns a byte before the read timeout: only a total deadline ends it."""
    hostile.route("/jwks", dribble(json.dumps(issuer.jwks()).encode(), pause=0.05))
    elapsed = refresh_fails_in_time(loaded)
    assert elapsed >= TIMEOUT * 0.8
    assert "within" in (loaded.cache.status().last_error or "")
    good_keys_kept(loaded, issuer)


def _slow_headers(issuer: ForgedIssuer) -> bytes:
    body = json.dumps(issuer.jwks()).encode()
    return (
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
        + b"X-Slow: "
        + b"s" * 400
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )


def test_headers_dribbled_one_byte_per_50_ms(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer
) -> None:
    """Slow-loris on the issuer side: the request is bounded (503 after the timeout),
    but the fetch itself must end by its deadline too, so that the next refresh can
    reach an endpoint that has recovered."""
    hostile.route("/jwks", dribble(_slow_headers(issuer), pause=0.05, raw=True))
    started = time.perf_counter()
    refreshed = loaded.cache.refresh()
    elapsed = time.perf_counter() - started
    hostile.route("/jwks", reply(200, json.dumps(issuer.jwks())))  # the endpoint recovers
    idle = loaded.cache.wait_until_idle(BOUND)
    assert not refreshed
    assert idle, "the trickled fetch outlived its deadline"
    assert elapsed < TIMEOUT + 0.75, f"refresh() waited {elapsed:.2f}s"
    assert loaded.cache.refresh(), "no refresh could start while the trickle went on"


# -- redirects: never followed, the target never reached ------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_another_host_is_not_followed(
    loaded: Loaded,
    hostile: HostileServer,
    issuer: ForgedIssuer,
    attacker_key: ForgedKey,
    status: int,
) -> None:
    target = HostileServer()
    try:
        attacker_set = json.dumps({"keys": [attacker_key.public_jwk()]})
        where = target.route("/jwks.json", reply(200, attacker_set))
        hostile.route("/jwks", reply(status, b"", {"Location": where}))
        refresh_fails_in_time(loaded)
        good_keys_kept(loaded, issuer)
        # The attacker's kid is unknown: its refetch meets the redirect again and fails,
        # so the answer is "keys unavailable" (503), and still nothing reaches the target.
        forged = issuer.mint(key=attacker_key, roles=["admin"])
        with pytest.raises(KeySetUnavailableError):
            loaded.validator.validate(forged)
        assert target.total_hits() == 0, "the redirect was followed"
    finally:
        target.close()


# -- duplicate kids ------------------------------------------------------------------------------


def test_duplicate_kid_as_the_only_new_content(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, attacker_key: ForgedKey
) -> None:
    """The attacker slips their key in under the issuer's kid: which one is meant cannot
    be known, so neither is used; with nothing else usable the fetch fails."""
    impostor = {**attacker_key.public_jwk(), "kid": issuer.kid}
    document = {"keys": [*issuer.jwks()["keys"], impostor]}
    hostile.route("/jwks", reply(200, json.dumps(document)))
    refresh_fails_in_time(loaded)
    good_keys_kept(loaded, issuer)
    forged = issuer.mint(key=attacker_key, headers={"kid": issuer.kid}, roles=["admin"])
    with pytest.raises(InvalidTokenError) as refused:
        loaded.validator.validate(forged)
    assert refused.value.description == SIGNATURE


def test_duplicate_kid_beside_another_usable_key(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer, attacker_key: ForgedKey
) -> None:
    """The set is replaced (another key is usable) but the ambiguous kid is in it no
    more: neither the genuine nor the impostor key verifies anything."""
    impostor = {**attacker_key.public_jwk(), "kid": issuer.kid}
    other = ForgedKey.generate("ES256", kid="other-usable").public_jwk()
    document = {"keys": [*issuer.jwks()["keys"], impostor, other]}
    hostile.route("/jwks", reply(200, json.dumps(document)))
    assert loaded.cache.refresh()
    impostor_token = issuer.mint(key=attacker_key, headers={"kid": issuer.kid}, roles=["admin"])
    for token in (issuer.mint(), impostor_token):
        with pytest.raises(InvalidTokenError) as refused:
            loaded.validator.validate(token)
        assert refused.value.description == UNKNOWN_KEY


# -- 10,000 keys: bounded work, the first MAX_KEYS read ---------------------------------------


def _many_keys(issuer: ForgedIssuer, good_at: int, count: int = 10_000) -> str:
    filler = ForgedKey.generate("ES256", kid="filler").public_jwk()
    keys: list[dict[str, Any]] = [{**filler, "kid": f"filler-{index}"} for index in range(count)]
    keys[good_at] = issuer.jwks()["keys"][0]
    return json.dumps({"keys": keys})


@pytest.fixture
def roomy(hostile: HostileServer, issuer: ForgedIssuer) -> Callable[[str], Loaded]:
    """A cold validator whose size cap fits a 10,000-key set (about 2 MB)."""

    def make(body: str) -> Loaded:
        url = hostile.route("/many", reply(200, body))
        clock = Clock()
        cache = JWKSCache(url, timeout=5, max_bytes=8 * 1024 * 1024, clock=clock)
        validator = TokenValidator(issuers={issuer.issuer: cache}, audiences=AUDIENCE)
        return Loaded(url, cache, validator, clock)

    return make


def test_10000_keys_cost_bounded_time(roomy: Callable[[str], Loaded], issuer: ForgedIssuer) -> None:
    target = roomy(_many_keys(issuer, good_at=0))
    started = time.perf_counter()
    assert target.cache.refresh()
    assert target.validator.validate(issuer.mint()).issuer == issuer.issuer
    assert time.perf_counter() - started < 2.0
    assert target.cache.status().key_count == MAX_KEYS


def test_key_past_the_first_max_keys_is_never_read(
    roomy: Callable[[str], Loaded], issuer: ForgedIssuer
) -> None:
    target = roomy(_many_keys(issuer, good_at=MAX_KEYS))
    assert target.cache.refresh()
    with pytest.raises(InvalidTokenError) as refused:
        target.validator.validate(issuer.mint())
    assert refused.value.description == UNKNOWN_KEY


def test_10000_keys_over_the_default_size_cap(
    loaded: Loaded, hostile: HostileServer, issuer: ForgedIssuer
) -> None:
    hostile.route("/jwks", reply(200, _many_keys(issuer, good_at=0)))
    refresh_fails_in_time(loaded)
    good_keys_kept(loaded, issuer)


# -- through the API: a cold app facing a hostile endpoint answers 503, never 500 -----------

COLD_ANSWERS: dict[str, Callable[[ForgedIssuer], Script]] = {
    "status-500": lambda issuer: reply(500, "boom"),
    "garbage": lambda issuer: reply(200, b"\x00\xff garbage"),
    "redirect": lambda issuer: reply(302, b"", {"Location": "http://127.0.0.1:9/jwks"}),
    "silent": lambda issuer: silent(5),
    "only-unusable-keys": lambda issuer: reply(200, '{"keys": [{"kty": "oct", "k": "c2Vj"}]}'),
}


@pytest.mark.parametrize("case", list(COLD_ANSWERS))
def test_cold_api_facing_a_hostile_endpoint(
    hostile: HostileServer, issuer: ForgedIssuer, databases: Path, case: str
) -> None:
    url = hostile.route("/jwks", COLD_ANSWERS[case](issuer))
    config = {**issuer.config(), "CLAIMGUARD_JWKS_URL": url, "CLAIMGUARD_HTTP_TIMEOUT": TIMEOUT}
    client = build_api(databases, config).test_client()
    started = time.perf_counter()
    response = client.get("/me", headers=bearer(issuer.mint()))
    assert time.perf_counter() - started < BOUND
    check_refusal(response, 503, None)


# -- a discovery document aiming key fetches inward -----------------------------------------

PUBLIC_ISSUER = "https://idp.example.com/"
#: What the inward service would answer: it must never reach a log or a readiness report.
INTERNAL_SECRET = "internal-only-answer-7f3a"

INWARD = [
    # this machine, where the hostile server plays an internal service
    "http://127.0.0.1:{port}/admin",
    "https://127.0.0.1:{port}/admin",
    "http://localhost:{port}/admin",
    "https://127.1:{port}/admin",
    "https://2130706433:{port}/admin",
    "https://0x7f000001:{port}/admin",
    "https://0x7f.1:{port}/admin",
    "https://[::ffff:127.0.0.1]:{port}/admin",
    "https://[::1]:{port}/admin",
    "https://foo.localhost/admin",
    # the networks around it (never contacted: refused before any connection)
    "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://10.0.0.1/admin",
    "https://172.16.0.1/admin",
    "https://192.168.0.1/admin",
    "https://0.0.0.0:{port}/admin",
    "https://[fe80::1]/admin",
    "https://[fd00::1]/admin",
]


@pytest.mark.parametrize("template", INWARD)
def test_discovery_cannot_aim_key_fetches_inward(
    hostile: HostileServer, issuer: ForgedIssuer, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    """The attacker controls a public issuer's discovery document and names an inward
    jwks_uri, hoping to scan ports or read an internal service through the API's
    readiness report. The fetch fails with a reason that names no answer, and not one
    request reaches the target."""
    port = hostile.base_url.rsplit(":", 1)[1]
    target = template.format(port=port)
    hostile.route("/admin", reply(200, json.dumps({"keys": [], "secret": INTERNAL_SECRET})))
    real_get_json = jwks_module.get_json
    attempted: list[str] = []

    def get_json(session: Any, url: str, **options: Any) -> Any:
        # The public issuer cannot be reached from tests: its discovery is answered here.
        if url == discovery_url(PUBLIC_ISSUER):
            return {"issuer": PUBLIC_ISSUER, "jwks_uri": target}
        attempted.append(url)
        if f":{port}/" not in url:  # never the network: only the loopback target is real
            raise FetchError(f"{url}: not fetched by this test")
        return real_get_json(session, url, **options)

    monkeypatch.setattr(jwks_module, "get_json", get_json)
    cache = JWKSCache.from_discovery(PUBLIC_ISSUER, timeout=TIMEOUT, cooldown=0)
    validator = TokenValidator(issuers={PUBLIC_ISSUER: cache}, audiences=AUDIENCE)
    started = time.perf_counter()
    assert not cache.refresh()
    with pytest.raises(KeySetUnavailableError) as unavailable:
        validator.validate(issuer.mint(iss=PUBLIC_ISSUER))
    assert time.perf_counter() - started < BOUND
    assert attempted == [], "a fetch was sent to the inward target"
    assert hostile.total_hits() == 0
    last_error = cache.status().last_error or ""
    assert "jwks_uri" in last_error
    assert INTERNAL_SECRET not in last_error
    assert INTERNAL_SECRET not in unavailable.value.detail
    assert cache.url is None  # nothing kept: the next fetch discovers again
