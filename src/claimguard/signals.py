"""Signals for audit logs and metrics: one per protected request that claimguard checked.

Both are sent by the app (the sender is the Flask app object) with the keyword
arguments ``token`` (the :class:`~claimguard.VerifiedToken`, or ``None``), ``reason``
(``None`` when authorized, else the refusal's reason code, as ``error.reason``),
``requirements`` (the route's tuple of :class:`~claimguard.requirements.Requirement`,
possibly empty) and ``optional`` (whether the route lets a request without credentials
through)::

    from claimguard.signals import request_refused

    @request_refused.connect_via(app)
    def audit(sender, token, reason, requirements, optional, **extra):
        audit_log.info("refused reason=%s", reason)

* ``request_authorized``: the request's token was verified and met the requirements,
  or the route is optional and the request carried no credentials (``token`` is
  ``None``).
* ``request_refused``: the check raised a claimguard error (400/401/403, or 503 when
  keys cannot be obtained). It is sent before the error is raised on to Flask.

A request that is checked more than once (a protected blueprint's ``before_request``
and a decorated view) reuses the token the first check verified: the later check sends
nothing when it passes, and ``request_refused`` when its own requirement refuses the
token. Nothing is built or sent when no receiver is connected.
"""

from __future__ import annotations

from blinker import Namespace

__all__ = ["request_authorized", "request_refused"]

_signals = Namespace()

#: Sent when a protected request is let through.
request_authorized = _signals.signal("claimguard.request-authorized")
#: Sent when a protected request is refused (before the error reaches Flask).
request_refused = _signals.signal("claimguard.request-refused")
