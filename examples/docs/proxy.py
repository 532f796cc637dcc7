"""An API behind a reverse proxy: the URL clients call, for DPoP proofs.

The documentation's deployment page includes this file; tests/test_doc_examples.py
builds the app with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from claimguard import ClaimGuard
from flask import Flask

guard = ClaimGuard()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config["CLAIMGUARD_DOMAIN"] = os.environ.get("AUTH0_DOMAIN", "my-tenant.us.auth0.com")
    app.config["CLAIMGUARD_AUDIENCE"] = "https://products.example.com"
    app.config["CLAIMGUARD_DPOP_MODE"] = "allowed"
    # The URL clients call, with any path prefix the proxy strips: proofs must name it.
    app.config["CLAIMGUARD_PUBLIC_URL"] = os.environ.get("PUBLIC_URL", "https://api.example.com")
    app.config.update(config or {})
    guard.init_app(app)
    return app
