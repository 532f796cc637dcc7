"""Audit logs from claimguard's signals: one line per protected request.

The documentation's "Audit signals" section includes this file; tests/test_doc_examples.py
connects it to an app and checks the lines it writes.
"""

from __future__ import annotations

import logging
from typing import Any

from claimguard import VerifiedToken
from claimguard.signals import request_authorized
from claimguard.signals import request_refused
from flask import Flask
from flask import request

audit = logging.getLogger("audit")


def audit_refusal(
    app: Flask, token: VerifiedToken | None, reason: str | None, **extra: Any
) -> None:
    audit.info(
        "refused %s %s reason=%s sub=%s",
        request.method,
        request.path,
        reason,
        token.subject if token else "-",
    )


def audit_access(app: Flask, token: VerifiedToken | None, reason: str | None, **extra: Any) -> None:
    audit.info(
        "authorized %s %s sub=%s",
        request.method,
        request.path,
        token.subject if token else "anonymous",
    )


def connect_audit(app: Flask) -> None:
    """Call in create_app(), after guard.init_app(app)."""
    request_refused.connect(audit_refusal, app)
    request_authorized.connect(audit_access, app)
