"""Extension objects, created unbound and initialised in :func:`example_api.create_app`."""

from __future__ import annotations

from claimguard import ClaimGuard

guard = ClaimGuard()
