"""Liveness and readiness: is this worker up, and able to verify tokens right now?

``GET /health`` is liveness: the process answers.
``GET /health/ready`` is readiness: every trusted issuer's key set is loaded in *this*
worker (each gunicorn worker keeps its own), so a token can be checked without waiting
for the issuer.

Both are public, so they answer a status and nothing else: per issuer, in configured
order, whether its keys are loaded and fresh. No URL, no process id, no error text, no
count: those help an attacker map the deployment and time an attack on the issuer.
The details go to the log instead (WARNING, at most once per nudge interval per worker,
so probing cannot flood it): process id, issuer, key-set URL, key count, last error.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask.blueprints import BlueprintSetupState

from claimguard import KeySetStatus

from .extensions import guard

log = logging.getLogger("example_api")

bp = Blueprint("health", __name__)

#: Shortest pause between two refreshes started by readiness probes, in one worker.
MIN_NUDGE_INTERVAL = 1.0
_NUDGER_KEY = "example_api.readiness_nudger"


class _Nudger:
    """Starts one background key fetch when a probe finds a key set missing.

    A worker that is not ready gets no traffic from a load balancer, and keys are
    otherwise fetched only by requests: without this nudge, a worker that lost its keys
    in an outage (or started without warm-up) would never become ready again. Rate
    limited per worker (one fetch per ``max(cooldown, 1 s)``), and never waited for, so
    a public probe cannot make the worker hammer the issuer or hang.
    """

    def __init__(self, app: Flask, interval: float) -> None:
        self._app = app
        self._interval = interval
        self._lock = threading.Lock()
        self._last: float | None = None
        self._thread: threading.Thread | None = None

    def nudge(self) -> bool:
        """Start a background refresh unless one ran too recently; whether it did."""
        now = time.monotonic()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            if self._last is not None and now - self._last < self._interval:
                return False
            self._last = now
            thread = self._thread = threading.Thread(
                target=self._refresh, name="example-api-ready-refresh", daemon=True
            )
        thread.start()
        return True

    def _refresh(self) -> None:
        try:
            with self._app.app_context():
                guard.refresh_keys()
        except Exception:  # a probe's side job must never take the worker down
            log.exception("readiness: background key refresh failed")


@bp.record_once
def _start_nudger(state: BlueprintSetupState) -> None:
    """Give the app its nudger when the blueprint is registered (after
    ``guard.init_app(app)``, which sets ``CLAIMGUARD_JWKS_COOLDOWN``)."""
    app = state.app
    assert isinstance(app, Flask)
    interval = max(float(app.config["CLAIMGUARD_JWKS_COOLDOWN"]), MIN_NUDGE_INTERVAL)
    app.extensions[_NUDGER_KEY] = _Nudger(app, interval)


@bp.get("/health")
def health() -> dict[str, str]:
    """Liveness: public, no token needed."""
    return {"status": "ok"}


@bp.get("/health/ready")
def ready() -> Response:
    """200 ``ready`` when every key set is loaded in this worker, else 503 ``not_ready``.

    ``{"status": "ready", "issuers": [{"loaded": true, "fresh": true}]}``: one entry per
    trusted issuer, in configured order, and nothing else (see the module docstring).
    """
    return readiness_answer(guard.key_set_status())


def readiness_answer(statuses: Mapping[str, KeySetStatus]) -> Response:
    """The readiness answer for one snapshot of the key sets (``{issuer: status}``).

    When a key set is missing, this also nudges a background fetch and, with the same
    rate limit, logs the details the answer leaves out.
    """
    issuers = [{"loaded": status.loaded, "fresh": status.fresh} for status in statuses.values()]
    is_ready = all(status.loaded for status in statuses.values())
    if not is_ready:
        nudger: _Nudger = current_app.extensions[_NUDGER_KEY]
        if nudger.nudge():  # at most once per interval: the log line rides on it
            _log_not_ready(statuses)
    response = jsonify(status="ready" if is_ready else "not_ready", issuers=issuers)
    response.status_code = 200 if is_ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _log_not_ready(statuses: Mapping[str, KeySetStatus]) -> None:
    """What the public answer leaves out, for operators: one WARNING line per issuer
    whose keys are not loaded. The key-set URL and the error come from the issuer's
    answers: ``%r`` shows them quoted, control characters escaped."""
    for issuer, status in statuses.items():
        if status.loaded:
            continue
        log.warning(
            "readiness: worker %d not ready: issuer %s, keys at %r: %d keys, last error: %r",
            os.getpid(),
            issuer,
            status.url,
            status.key_count,
            status.last_error,
        )
