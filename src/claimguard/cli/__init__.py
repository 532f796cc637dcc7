"""``flask claimguard``: the operators' command group, registered for every app through
the ``flask.commands`` entry point (``flask --app example_api:create_app claimguard …``).

* ``routes``: every URL rule with its methods and what it requires.
"""

from __future__ import annotations

from . import routes as _routes  # noqa: F401  (registers the command)
from .app import cli
from .routes import RouteInfo
from .routes import describe
from .routes import route_table

__all__ = ["RouteInfo", "cli", "describe", "route_table"]
