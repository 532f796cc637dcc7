"""Shared test set-up. The ``forged_issuer`` fixture comes from claimguard's own pytest
plugin (registered through the ``pytest11`` entry point), as it does for users."""
