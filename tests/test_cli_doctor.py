"""``flask claimguard doctor``: a healthy issuer, one that is down, a key set with no
usable key, an issuer clock ten minutes off, roles claims that are not namespaced, the
``--json`` document, what the issuer sent shown escaped, the app's caches left alone,
and app-loading errors as one line through the real ``flask`` executable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from claimguard import ClaimGuard
from claimguard.cli import cli
from claimguard.diagnosis import check_clock
from claimguard.diagnosis import check_roles_claims
from claimguard.diagnosis import clock_skew
from claimguard.settings import Settings
from claimguard.testing import ForgedIssuer
from claimguard.testing import ForgedKey

ROLES = "https://my-app.example.com/roles"
FLASK = Path(sys.executable).parent / "flask"


@pytest.fixture
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience="https://products.example.com", roles_claim=ROLES) as forged:
        yield forged


def make_app(issuer: ForgedIssuer, **config: Any) -> Flask:
    """An app trusting ``issuer``, with ``config`` applied over it before ClaimGuard."""
    app = Flask(__name__)
    issuer.configure(app)
    app.config["CLAIMGUARD_HTTP_TIMEOUT"] = 2  # every wait bounded
    app.config.update(config)
    ClaimGuard(app)
    return app


def doctor(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(cli, ["doctor", *args])


def lines(result: Result, label: str) -> list[str]:
    """The report's check lines with this label (``ok``, ``warn``, ``FAIL``)."""
    return [line for line in result.output.splitlines() if line.startswith(f"  {label} ")]


def report(app: Flask) -> dict[str, Any]:
    result = doctor(app, "--json")
    assert "Traceback" not in result.output
    document: dict[str, Any] = json.loads(result.output)
    assert result.exit_code == (0 if document["healthy"] else 1)
    return document


def checks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The one issuer's checks by name."""
    (issuer,) = document["issuers"]
    return {check["check"]: check for check in issuer["checks"]}


# -- healthy -----------------------------------------------------------------------


def test_a_healthy_issuer_passes_and_lists_its_keys(issuer: ForgedIssuer) -> None:
    second = issuer.rotate()
    result = doctor(make_app(issuer))
    assert result.exit_code == 0, result.output
    assert lines(result, "FAIL") == []
    assert lines(result, "warn") == []
    for key in issuer.published_keys:
        assert f"kid={key.kid}  kty=RSA  alg=RS256  use=sig  usable (RS256)" in result.output
    assert second.kid in result.output
    assert f"  ok    jwks        {issuer.jwks_url} in " in result.output
    assert "2 key(s), 2 usable" in result.output
    assert result.output.splitlines()[-1] == "doctor: healthy: 4 ok, 0 warning(s), 0 failure(s)"


def test_the_settings_summary_is_printed(issuer: ForgedIssuer) -> None:
    result = doctor(make_app(issuer, CLAIMGUARD_LEEWAY=12, CLAIMGUARD_STRICT_TYP=True))
    summary = {
        line.split()[0]: line.split(None, 1)[1]
        for line in result.output.split("roles claims")[0].splitlines()[1:]
    }
    assert summary["issuers"] == issuer.issuer
    assert summary["audiences"] == "https://products.example.com"
    assert summary["algorithms"] == "RS256"
    assert summary["leeway"] == "12.0"
    assert summary["roles_claims"] == ROLES
    assert summary["scope_claim"] == "scope"
    assert summary["permissions_claim"] == "permissions"
    assert summary["strict_typ"] == "True"


def test_discovery_is_fetched_and_checked_when_no_jwks_url_is_set(issuer: ForgedIssuer) -> None:
    document = report(make_app(issuer, CLAIMGUARD_JWKS_URL=None))
    found = checks(document)
    assert found["discovery"]["status"] == "ok"
    assert issuer.jwks_url in found["discovery"]["message"]
    assert document["issuers"][0]["discovery_url"] == issuer.discovery_url
    assert document["issuers"][0]["jwks_url"] == issuer.jwks_url
    assert issuer.discovery_requests == 1


def test_a_discovery_document_for_another_issuer_fails(issuer: ForgedIssuer) -> None:
    # The document names the issuer with its trailing slash: OpenID Connect Discovery
    # 1.0 §4.3 wants an exact match, so the slash-less setting must fail.
    app = make_app(issuer, CLAIMGUARD_JWKS_URL=None, CLAIMGUARD_ISSUER=issuer.base_url)
    result = doctor(app)
    assert result.exit_code == 1
    (failure,) = lines(result, "FAIL")
    assert "discovery" in failure
    assert "does not equal the configured issuer" in failure
    assert issuer.jwks_requests == 0  # no keys fetched from an unconfirmed document


def test_the_apps_key_caches_are_left_alone(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    cache = app.extensions["claimguard"].validator.issuers[issuer.issuer]
    assert doctor(app).exit_code == 0
    assert doctor(app).exit_code == 0
    assert issuer.jwks_requests == 2  # a fresh fetch each run, never the cache's copy
    status = cache.status()
    assert (status.fetches, status.loaded) == (0, False)


# -- an issuer that is down --------------------------------------------------------


def test_an_issuer_in_an_outage_is_one_fail_line(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    with issuer.outage():
        result = doctor(app)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (failure,) = lines(result, "FAIL")
    assert failure.startswith("  FAIL  jwks ")
    assert f"{issuer.jwks_url}: HTTP 503" in failure
    assert "1 failure(s)" in result.output.splitlines()[-1]


def test_an_unreachable_issuer_is_one_fail_line() -> None:
    forged = ForgedIssuer()
    app = make_app(forged, CLAIMGUARD_JWKS_URL=None)
    forged.close()  # nothing listens on its port any more
    result = doctor(app)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (failure,) = lines(result, "FAIL")
    assert failure.startswith("  FAIL  discovery ")
    assert "request failed" in failure
    assert "clock" not in result.output  # nothing answered: no clock to compare


# -- keys the runtime would skip ---------------------------------------------------


def test_a_key_set_with_no_usable_key_lists_each_skip_reason(issuer: ForgedIssuer) -> None:
    weak = ForgedKey.generate("RS256", kid="weak", bits=1024).public_jwk()
    symmetric = {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldA"}
    encryption = {**ForgedKey.generate("RS256", kid="enc").public_jwk(), "use": "enc"}
    app = make_app(issuer)
    with issuer.jwks_response({"keys": [weak, symmetric, encryption]}):
        result = doctor(app)
    assert result.exit_code == 1
    keys = [line.strip() for line in result.output.splitlines() if "key #" in line]
    assert keys == [
        "key #0  kid=weak  kty=RSA  alg=RS256  use=sig  "
        "skipped: RSA key of 1024 bits is outside 2048-8192",
        'key #1  kid=hmac  kty=oct  alg=HS256  use=-  skipped: kty "oct" is not RSA, EC or OKP',
        "key #2  kid=enc  kty=RSA  alg=RS256  use=enc  skipped: use \"enc\" is not 'sig'",
    ]
    (failure,) = lines(result, "FAIL")
    assert failure.startswith("  FAIL  keys ")
    assert "none of the 3 keys is usable" in failure


def test_set_level_rules_are_named(issuer: ForgedIssuer) -> None:
    twin = ForgedKey.generate("RS256", kid="twin").public_jwk()
    other = {**ForgedKey.generate("RS256", kid="twin").public_jwk()}
    app = make_app(issuer)
    with issuer.jwks_response({"keys": [twin, other, issuer.current_key.public_jwk()]}):
        document = report(app)
    reasons = [key["reason"] for key in document["issuers"][0]["keys"]]
    assert reasons[0] == reasons[1] is not None
    assert "shared by another key" in reasons[0]
    assert reasons[2] is None
    assert checks(document)["keys"]["status"] == "ok"


def test_keys_that_fit_no_allowed_algorithm_fail() -> None:
    with ForgedIssuer(algorithm="ES256") as forged:
        result = doctor(make_app(forged, CLAIMGUARD_ALGORITHMS=["RS256"]))
    assert result.exit_code == 1
    (failure,) = lines(result, "FAIL")
    assert "no usable key fits CLAIMGUARD_ALGORITHMS ['RS256']" in failure
    assert "usable (ES256)" in result.output


def test_what_the_issuer_sent_is_shown_escaped(issuer: ForgedIssuer) -> None:
    hostile = {"kty": "oct\u202e", "kid": "\x1b[31mred\n  ok    forged line", "k": "AA"}
    app = make_app(issuer)
    with issuer.jwks_response({"keys": [hostile, issuer.current_key.public_jwk()]}):
        text = doctor(app).output
        document = report(app)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert not any(line.startswith("  ok    forged line") for line in text.splitlines())
    assert r'kid="\x1b[31mred\x0a  ok    forged line"' in text
    assert r'kty="oct\u202e"' in text
    assert document["issuers"][0]["keys"][0]["kid"].startswith('"\\x1b[31mred')


def test_a_jwks_that_is_not_a_key_set_fails(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    with issuer.jwks_response({"keys": "none"}):
        result = doctor(app)
    assert result.exit_code == 1
    (failure,) = lines(result, "FAIL")
    assert "not a JWK Set" in failure


# -- clocks ------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [600, -600])
def test_an_issuer_clock_ten_minutes_off_fails(issuer: ForgedIssuer, offset: int) -> None:
    issuer.clock_offset = offset
    document = report(make_app(issuer))
    clock = checks(document)["clock"]
    assert clock["status"] == "fail"
    assert "more than CLAIMGUARD_LEEWAY (5 s)" in clock["message"]
    assert ("ahead of" if offset > 0 else "behind") in clock["message"]
    assert abs(document["issuers"][0]["clock_skew_seconds"] - offset) < 3


def test_a_skew_within_the_leeway_passes(issuer: ForgedIssuer) -> None:
    issuer.clock_offset = 20
    document = report(make_app(issuer, CLAIMGUARD_LEEWAY=30))
    assert checks(document)["clock"]["status"] == "ok"
    assert document["healthy"] is True


def test_clock_readings() -> None:
    assert clock_skew("Mon, 30 Nov 2026 10:00:10 GMT", 1_796_032_800.0) == 10.0
    assert clock_skew("yesterday", 0.0) is None
    missing, skew = check_clock(None, 0.0, 5)
    assert (missing.status, skew) == ("warn", None)
    garbled, _ = check_clock("\x00soon", 0.0, 5)
    assert garbled.status == "warn"
    assert "\x00" not in garbled.message


# -- roles claims ------------------------------------------------------------------


def test_a_non_namespaced_roles_claim_is_a_warning(issuer: ForgedIssuer) -> None:
    result = doctor(make_app(issuer, CLAIMGUARD_ROLES_CLAIM="roles"))
    assert result.exit_code == 0  # warnings alone pass
    (warning,) = lines(result, "warn")
    assert "roles-claim" in warning
    assert "'roles' is not a namespaced URI" in warning
    assert "Auth0 silently leaves non-namespaced custom claims out" in warning
    assert "1 warning(s)" in result.output.splitlines()[-1]


def settings(**config: Any) -> Settings:
    return Settings.from_mapping({"CLAIMGUARD_AUDIENCE": "https://api.example.com", **config})


def test_for_an_auth0_tenant_a_bare_roles_claim_fails() -> None:
    (check,) = check_roles_claims(
        settings(CLAIMGUARD_DOMAIN="acme.us.auth0.com", CLAIMGUARD_ROLES_CLAIM="roles")
    )
    assert check.status == "fail"


def test_roles_claim_verdicts() -> None:
    issuer = {"CLAIMGUARD_ISSUER": "https://id.example.com/"}
    verdicts = {
        name: check.status
        for name, check in zip(
            ["https://my-app.example.com/roles", "/realm_access/roles", "urn:acme:roles"],
            check_roles_claims(
                settings(
                    **issuer,
                    CLAIMGUARD_ROLES_CLAIM=[
                        "https://my-app.example.com/roles",
                        "/realm_access/roles",
                        "urn:acme:roles",
                    ],
                )
            ),
            strict=True,
        )
    }
    assert verdicts == {
        "https://my-app.example.com/roles": "ok",
        "/realm_access/roles": "warn",
        "urn:acme:roles": "ok",
    }
    (owned,) = check_roles_claims(
        settings(CLAIMGUARD_DOMAIN="acme.auth0.com", CLAIMGUARD_ROLES_CLAIM="https://auth0.com/r")
    )
    assert owned.status == "fail"
    assert "Auth0 keeps for itself" in owned.message


# -- --json ------------------------------------------------------------------------


def test_json_document(issuer: ForgedIssuer) -> None:
    document = report(make_app(issuer))
    assert set(document) == {"healthy", "settings", "checks", "issuers", "summary"}
    assert document["healthy"] is True
    assert document["summary"] == {"ok": 4, "warn": 0, "fail": 0}
    assert document["settings"]["issuers"] == [issuer.issuer]
    assert document["settings"]["leeway"] == 5
    (found,) = document["issuers"]
    assert set(found) == {
        "issuer",
        "discovery_url",
        "jwks_url",
        "jwks_seconds",
        "clock_skew_seconds",
        "keys",
        "checks",
    }
    assert found["discovery_url"] is None
    assert found["jwks_seconds"] >= 0
    assert found["keys"] == [
        {
            "index": 0,
            "kid": issuer.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "usable": True,
            "algorithms": ["RS256"],
            "reason": None,
        }
    ]
    assert [check["check"] for check in found["checks"]] == ["jwks", "keys", "clock"]
    assert document["checks"][0]["check"] == "roles-claim"


def test_json_exit_status_follows_the_checks(issuer: ForgedIssuer) -> None:
    app = make_app(issuer)
    with issuer.outage():
        result = doctor(app, "--json")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["healthy"] is False
    assert document["summary"]["fail"] == 1


# -- app-loading errors ------------------------------------------------------------


def test_an_app_without_claimguard_is_one_line_of_error() -> None:
    result = doctor(Flask("bare"))
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: claimguard is not set up on this app")
    assert len(result.output.strip().splitlines()) == 1


def flask_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "CLAIMGUARD_"))}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(
        [str(FLASK), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_app_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    result = flask_cli(tmp_path, "claimguard", "doctor")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "Could not locate a Flask application" in output


def test_refused_settings_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "badapp.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask
            from claimguard import ClaimGuard

            def create_app():
                app = Flask(__name__)
                app.config["CLAIMGUARD_ISSUER"] = "https://id.example.com/"
                app.config["CLAIMGUARD_AUDIENCE"] = "https://api.example.com"
                app.config["CLAIMGUARD_LEEWAY"] = "soon"
                ClaimGuard(app)
                return app
            """
        )
    )
    result = flask_cli(tmp_path, "--app", "badapp:create_app", "claimguard", "doctor")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "the app refused its settings" in output
    assert "CLAIMGUARD_LEEWAY" in output


# -- the DPoP replay store ---------------------------------------------------------------


class Store:
    """A replay store whose claim answers ``answer``, or raises it."""

    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer
        self.claimed: list[tuple[str, int]] = []

    def claim(self, key: str, ttl: int) -> bool:
        self.claimed.append((key, ttl))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def store_check(document: dict[str, Any]) -> dict[str, Any]:
    (check,) = [check for check in document["checks"] if check["check"] == "replay-store"]
    return check


def test_a_shared_replay_store_that_answers_passes(issuer: ForgedIssuer) -> None:
    store = Store(True)
    document = report(
        make_app(issuer, CLAIMGUARD_DPOP_MODE="allowed", CLAIMGUARD_DPOP_REPLAY_STORE=store)
    )
    assert store_check(document)["status"] == "ok"
    assert len(store.claimed) == 1
    key, ttl = store.claimed[0]
    assert key.startswith("claimguard:doctor:")
    assert ttl == 1
    assert document["settings"]["dpop_replay_store"] == "<Store>"


@pytest.mark.parametrize("answer", [ConnectionError("refused"), False])
def test_a_replay_store_that_fails_or_refuses_fails(
    issuer: ForgedIssuer, answer: bool | Exception
) -> None:
    app = make_app(
        issuer, CLAIMGUARD_DPOP_MODE="required", CLAIMGUARD_DPOP_REPLAY_STORE=Store(answer)
    )
    result = doctor(app)
    assert result.exit_code == 1
    assert any("replay-store" in line for line in lines(result, "FAIL"))
    assert "Traceback" not in result.output


def test_an_unreachable_redis_fails_within_its_timeout(issuer: ForgedIssuer) -> None:
    pytest.importorskip("redis", reason="pip install redis")
    from redis_server import free_port

    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0?password=s3cret"  # nothing listens
    document = report(
        make_app(issuer, CLAIMGUARD_DPOP_MODE="allowed", CLAIMGUARD_DPOP_REPLAY_STORE=url)
    )
    assert store_check(document)["status"] == "fail"
    assert "s3cret" not in json.dumps(document)  # the password is never printed
    assert document["settings"]["dpop_replay_store"].startswith("redis://:***@127.0.0.1:")


def test_the_memory_store_is_a_warning_only_where_dpop_is_on(issuer: ForgedIssuer) -> None:
    on = report(make_app(issuer, CLAIMGUARD_DPOP_MODE="allowed"))
    assert store_check(on)["status"] == "warn"
    assert on["healthy"] is True
    off = report(make_app(issuer))
    assert [check for check in off["checks"] if check["check"] == "replay-store"] == []


def test_the_nonce_secret_is_never_printed(issuer: ForgedIssuer) -> None:
    secret = "n" * 40
    app = make_app(issuer, CLAIMGUARD_DPOP_MODE="allowed", CLAIMGUARD_DPOP_NONCE_SECRET=secret)
    for args in ((), ("--json",)):
        assert secret not in doctor(app, *args).output
