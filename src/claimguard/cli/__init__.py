"""``flask claimguard``: the operators' command group, registered for every app through
the ``flask.commands`` entry point (``flask --app example_api:create_app claimguard …``).

* ``explain``: why the app accepts or refuses a token, check by check.
* ``routes``: every URL rule with its methods and what it requires.
* ``mint``: a token from the development issuer ``make demo`` runs, to try the API.
* ``doctor``: the set-up checked end to end: settings, discovery, keys, clocks.
"""

from __future__ import annotations

from . import doctor as _doctor  # noqa: F401
from . import explain as _explain  # noqa: F401  (registers the command)
from . import mint as _mint  # noqa: F401  (registers the command)
from . import routes as _routes  # noqa: F401  (registers the command)
from .app import cli
from .routes import RouteInfo
from .routes import describe
from .routes import route_table

__all__ = ["RouteInfo", "cli", "describe", "route_table"]
