"""Test kit: forge an issuer, its keys and its tokens, for your tests and ours.

``ForgedIssuer`` serves discovery and a JWKS on 127.0.0.1 and mints signed tokens.
Installing claimguard also registers the ``forged_issuer`` pytest fixture.
"""

from __future__ import annotations

from .issuer import ForgedIssuer as ForgedIssuer
from .issuer import ForgedKey as ForgedKey

__all__ = ["ForgedIssuer", "ForgedKey"]
