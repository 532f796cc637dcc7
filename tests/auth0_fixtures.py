"""The genuine Auth0 tokens of ``shared/fixtures/auth0`` (beside the repository): real
tokens and the public key sets of the tenants that signed them, long expired.

A test module calls :func:`require` at import: without the fixtures it skips, except in
CI, where their absence is a failure.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "auth0"


def require() -> None:
    if FIXTURES.is_dir():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"Auth0 fixtures are missing at {FIXTURES}: CI must check out shared/ "
            "beside the repository",
            pytrace=False,
        )
    pytest.skip(
        f"Auth0 fixtures not found at {FIXTURES} (shared/ is not beside the repository)",
        allow_module_level=True,
    )


@functools.cache
def load(name: str) -> dict[str, Any]:
    """One pair file: ``token``, ``jwks``, ``header``, ``claims``, ``kind``, ``notes``."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


def api_audience(claims: Mapping[str, Any]) -> str:
    """The API identifier: the string ``aud``, or the list element that is not /userinfo."""
    aud = claims["aud"]
    if isinstance(aud, str):
        return aud
    apis = [value for value in aud if not value.endswith("/userinfo")]
    assert len(apis) == 1, aud
    return apis[0]
