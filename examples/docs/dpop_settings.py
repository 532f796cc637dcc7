"""DPoP turned on for an app: the settings the documentation's DPoP page shows.

tests/test_doc_examples.py applies them to an app and sets claimguard up with them.
"""

from __future__ import annotations

import os

from flask import Flask


def enable_dpop(app: Flask) -> None:
    """Call in create_app(), before guard.init_app(app)."""
    app.config["CLAIMGUARD_DPOP_MODE"] = "allowed"  # or "required"
    # Several workers or instances: one replay store they all share.
    app.config["CLAIMGUARD_DPOP_REPLAY_STORE"] = os.environ.get(
        "DPOP_REPLAY_STORE", "redis://127.0.0.1:6379/0"
    )
    # Optional: server nonces, with the same secret on every instance.
    app.config["CLAIMGUARD_DPOP_NONCE_SECRET"] = os.environ["DPOP_NONCE_SECRET"]
