"""``VerifiedToken``: what a token proves once every check has passed.

Flask-free, and free of the validator: the validator builds these, the verified-token
cache keeps them, and the Flask layer hands them to views.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone
from typing import Any

__all__ = ["VerifiedToken"]


@dataclass(frozen=True, eq=False, slots=True)
class VerifiedToken:
    """An access token whose signature and claims passed every check.

    All members are read-only: ``claims`` and ``header`` are deeply frozen mappings.
    """

    #: Every claim of the payload, deeply read-only (objects as mappings, arrays as tuples).
    claims: Mapping[str, Any]
    #: The protected header.
    header: Mapping[str, Any]
    #: The token string itself. Do not log it.
    raw: str
    roles: frozenset[str]
    permissions: frozenset[str]
    scopes: frozenset[str]
    #: Thumbprint of the key that verified the signature.
    key_thumbprint: str

    @property
    def subject(self) -> str:
        """``sub``: the user (``auth0|…``) or, for M2M tokens, ``<client_id>@clients``."""
        return str(self.claims["sub"])

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    @property
    def audience(self) -> tuple[str, ...]:
        """``aud`` as a tuple, whether the token carried a string or an array."""
        aud = self.claims["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.claims["exp"], tz=timezone.utc)

    @property
    def client_id(self) -> str | None:
        """The OAuth client the token was issued to: RFC 9068 ``client_id``, else ``azp``."""
        value = self.claims.get("client_id", self.claims.get("azp"))
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:  # never print the token itself
        return f"<VerifiedToken sub={self.claims.get('sub')!r} iss={self.claims.get('iss')!r}>"
