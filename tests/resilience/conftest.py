"""Fixtures of the resilience suite: a fresh issuer per test (tests rotate its keys and
cut it off), and its tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from claimguard.testing import ForgedIssuer

from .harness import AUDIENCE
from .harness import ROLES


@pytest.fixture
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as forged:
        yield forged
