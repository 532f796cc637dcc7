"""Fixtures of the DPoP tests: one issuer, one client key, and the reason of every
refusal (read from ``claimguard.signals.request_refused``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from claimguard.signals import request_refused
from claimguard.testing import DPoPKey
from claimguard.testing import ForgedIssuer
from protected_app import ROLES


@pytest.fixture(scope="module")
def issuer() -> Iterator[ForgedIssuer]:
    with ForgedIssuer(roles_claim=ROLES) as forged:
        yield forged


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


@pytest.fixture
def reasons() -> Iterator[list[str]]:
    """The reason code of every refusal while the test runs, from any app."""
    seen: list[str] = []

    def refused(sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs["reason"])

    request_refused.connect(refused)
    try:
        yield seen
    finally:
        request_refused.disconnect(refused)
