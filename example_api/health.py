"""Readiness: is this worker able to verify tokens right now?

``GET /health`` (in :mod:`example_api.products`) is liveness: the process answers.
``GET /health/ready`` is readiness: every trusted issuer's key set is loaded in *this*
worker (each gunicorn worker keeps its own), so a token can be checked without waiting
for the issuer. Both are public: no token, nothing secret in the answer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify

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

    def nudge(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            if self._last is not None and now - self._last < self._interval:
                return
            self._last = now
            thread = self._thread = threading.Thread(
                target=self._refresh, name="example-api-ready-refresh", daemon=True
            )
        thread.start()

    def _refresh(self) -> None:
        try:
            with self._app.app_context():
                guard.refresh_keys()
        except Exception:  # a probe's side job must never take the worker down
            log.exception("readiness: background key refresh failed")


def init_app(app: Flask) -> None:
    """Register the readiness route (after ``guard.init_app(app)``)."""
    interval = max(float(app.config["CLAIMGUARD_JWKS_COOLDOWN"]), MIN_NUDGE_INTERVAL)
    app.extensions[_NUDGER_KEY] = _Nudger(app, interval)
    app.register_blueprint(bp)


@bp.get("/health/ready")
def ready() -> Response:
    """200 ``ready`` when every key set is loaded in this worker, else 503 ``not_ready``."""
    key_sets: dict[str, dict[str, Any]] = {}
    for issuer, status in guard.key_set_status().items():
        key_sets[issuer] = {
            "loaded": status.loaded,
            "fresh": status.fresh,
            "age": None if status.age is None else round(status.age, 3),
            "key_count": status.key_count,
            "last_error": status.last_error,
            "cooling_down": status.cooling_down,
            "refreshing": status.refreshing,
            "fetches": status.fetches,
        }
    is_ready = all(entry["loaded"] for entry in key_sets.values())
    if not is_ready:
        nudger: _Nudger = current_app.extensions[_NUDGER_KEY]
        nudger.nudge()
    response = jsonify(
        status="ready" if is_ready else "not_ready", pid=os.getpid(), key_sets=key_sets
    )
    response.status_code = 200 if is_ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
