"""Shared test set-up. The ``forged_issuer`` fixture comes from claimguard's own pytest
plugin (registered through the ``pytest11`` entry point), as it does for users.

The core suites (validation, token, token cache) share the fixtures below; a module that
needs another issuer (one with a roles claim, say) defines its own ``issuer``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claimguard import TokenValidator
from claimguard.testing import ForgedIssuer
from expected import ManualClock


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    """One RS256 issuer for the tests that neither rotate nor retire keys."""
    with ForgedIssuer() as forged:
        yield forged


@pytest.fixture(scope="module")
def validator(issuer: ForgedIssuer) -> TokenValidator:
    """A validator trusting the module issuer, its key set loaded once."""
    return issuer.validator()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()
