"""example_api for the resilience suite: the real app, whose readiness answer also
carries this worker's key-set internals under ``diagnostics``.

The public ``GET /health/ready`` answers only a status per issuer (no process id, no
URL, no error). These tests need more: which worker answered (to reach every one), how
many fetches it made, its last error. This build adds them, from the same snapshot the
public answer is made of, so the two always agree::

    {"status": ..., "issuers": [...],
     "diagnostics": {"pid": 123, "key_sets": {issuer: {"loaded", "fresh", "age",
                     "key_count", "last_error", "cooling_down", "refreshing", "fetches"}}}}

Started by gunicorn as ``resilience.diagnostics:create_app()``, with ``tests/`` on the
import path (see ``harness.running_api``). Never part of the example app itself.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask
from flask import Response

from claimguard import KeySetStatus
from example_api import create_app as create_example_api
from example_api import health
from example_api.extensions import guard

#: The gunicorn application spec of this module.
APP = "resilience.diagnostics:create_app()"


def details(status: KeySetStatus) -> dict[str, Any]:
    """One key set's internals, as the tests read them."""
    return {
        "loaded": status.loaded,
        "fresh": status.fresh,
        "age": None if status.age is None else round(status.age, 3),
        "key_count": status.key_count,
        "last_error": status.last_error,
        "cooling_down": status.cooling_down,
        "refreshing": status.refreshing,
        "fetches": status.fetches,
    }


def ready_with_diagnostics() -> Response:
    """The public readiness answer (same nudge, same log), plus ``diagnostics``."""
    statuses = guard.key_set_status()
    response = health.readiness_answer(statuses)
    body = response.get_json()
    body["diagnostics"] = {
        "pid": os.getpid(),
        "key_sets": {issuer: details(status) for issuer, status in statuses.items()},
    }
    response.set_data(json.dumps(body))
    return response


def create_app() -> Flask:
    """example_api (settings from the environment) with the diagnostic readiness."""
    app = create_example_api()
    app.view_functions["health.ready"] = ready_with_diagnostics
    return app
