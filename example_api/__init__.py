"""example_api: the products API that receives the calls a Next.js route proxies.

Run it in production with::

    gunicorn -c example_api/gunicorn.conf.py "example_api:create_app()"

Every ``CLAIMGUARD_*`` setting comes from the environment variable of the same name
(lists as comma-separated values), plus ``EXAMPLE_API_DATABASE`` (a SQLite file, by
default ``products.sqlite3`` in the app's instance folder, or a ``postgresql://`` URL),
``EXAMPLE_API_DB_POOL_MAX`` (PostgreSQL connections per worker; default: its threads
plus one) and ``EXAMPLE_API_WARM_UP`` (``1``/``true``: fetch the issuers' keys when each
worker starts).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import errors
from . import health
from . import logs
from . import products
from .config import from_environment
from .config import is_true
from .extensions import guard
from .storage import open_store

__all__ = ["create_app"]

#: Largest request body accepted (413 above it).
MAX_BODY_BYTES = 64 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. Settings come from the environment; ``config`` overrides them.

    With ``EXAMPLE_API_WARM_UP`` on, the issuers' keys are fetched before this returns
    (at most ``CLAIMGUARD_HTTP_TIMEOUT`` per key set), so the first request does not
    wait and ``GET /health/ready`` answers 200 at once.

    :raises claimguard.ConfigurationError: no issuer or audience is configured. The
        app never falls back to a development issuer on its own: ``make demo`` starts
        one explicitly.
    """
    logs.configure_from_environment()
    app = Flask(__name__, instance_relative_config=True)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["EXAMPLE_API_DATABASE"] = os.path.join(app.instance_path, "products.sqlite3")
    app.json.sort_keys = False
    app.config.update(from_environment())
    if config:
        app.config.update(config)
    # The backend is chosen here, once: the routes see only the ProductStore interface.
    store = open_store(
        str(app.config["EXAMPLE_API_DATABASE"]),
        pool_max=int(app.config["EXAMPLE_API_DB_POOL_MAX"]),
    )
    store.initialise()
    app.extensions["example_api.store"] = store
    guard.init_app(app)
    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(products.bp)
    if is_true(app.config.get("EXAMPLE_API_WARM_UP", False)):
        # Each gunicorn worker builds its own app (no --preload), so each fetches its
        # keys here. A failure is logged, never raised: requests fetch on demand.
        guard.warm_up(app)
    return app
