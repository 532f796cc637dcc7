"""The pytest plugin registered through the ``pytest11`` entry point.

It defines the ``forged_issuer`` fixture and imports the kit only when a test asks for
it, so suites that never use it pay nothing.
"""

from __future__ import annotations

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
    """
    from .issuer import ForgedIssuer

    options: dict[str, Any] = getattr(request, "param", None) or {}
    issuer = ForgedIssuer(**options)
    try:
        yield issuer
    finally:
        issuer.close()
