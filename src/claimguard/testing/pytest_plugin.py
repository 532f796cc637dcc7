"""The pytest plugin registered through the ``pytest11`` entry point.

It defines the ``forged_issuer`` fixture and imports the kit only when a test asks for
it, so suites that never use it pay nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

import pytest

if TYPE_CHECKING:
    from .issuer import ForgedIssuer


@pytest.fixture
def forged_issuer(request: pytest.FixtureRequest) -> Iterator[ForgedIssuer]:
    """A running :class:`~claimguard.testing.ForgedIssuer`, closed after the test.

    Parametrize it indirectly to change its options::

        @pytest.mark.parametrize("forged_issuer", [{"algorithm": "ES256"}], indirect=True)
        def test_es256(forged_issuer): ...

    While the test runs, the ``claimguard`` logger passes INFO records on, so a failing
    test's "Captured log" section says why each request was refused (``refused GET
    "/products/1": 401 invalid_token: aud mismatch …``); its level is restored after.
    pytest's ``log_level`` option still decides what is shown.
    """
    from .issuer import ForgedIssuer

    options: dict[str, Any] = getattr(request, "param", None) or {}
    logger = logging.getLogger("claimguard")
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        issuer = ForgedIssuer(**options)
        try:
            yield issuer
        finally:
            issuer.close()
    finally:
        logger.setLevel(level)
