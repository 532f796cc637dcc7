"""``VerifiedToken``: what a token proves once every check has passed.

Flask-free, and free of the validator: the validator builds these, the verified-token
cache keeps them, and the Flask layer hands them to views.

A verified token is read-only from the outside, and built cheaply on the inside: the
validator hands over the payload it parsed (a ``dict`` nobody else holds), and the
deeply read-only ``claims``, like ``roles``, ``permissions`` and ``scopes``, are derived
from it on first access and kept. Most requests read one of the three sets and never the
claims, so a new token does not pay for a deep copy it will not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from datetime import timezone
from typing import TYPE_CHECKING
from typing import Any

from .claims import freeze

if TYPE_CHECKING:
    from .claims import ClaimRules

__all__ = ["VerifiedToken"]

_new = object.__new__


class VerifiedToken:
    """An access token whose signature and claims passed every check.

    All members are read-only properties: ``claims`` and ``header`` are deeply frozen
    mappings, and assigning any of them raises ``AttributeError``.
    """

    __slots__ = (
        "_claims",
        "_header",
        "_key_thumbprint",
        "_payload",
        "_permissions",
        "_raw",
        "_roles",
        "_rules",
        "_scopes",
    )

    _claims: Mapping[str, Any] | None
    _payload: dict[str, Any] | None
    _rules: ClaimRules | None
    _roles: frozenset[str] | None
    _permissions: frozenset[str] | None
    _scopes: frozenset[str] | None

    def __init__(
        self,
        *,
        claims: Mapping[str, Any],
        header: Mapping[str, Any],
        raw: str,
        roles: frozenset[str],
        permissions: frozenset[str],
        scopes: frozenset[str],
        key_thumbprint: str,
    ) -> None:
        """A token from parts already derived (``claims`` must be deeply read-only)."""
        self._claims = claims
        self._payload = None
        self._rules = None
        self._header = header
        self._raw = raw
        self._roles = roles
        self._permissions = permissions
        self._scopes = scopes
        self._key_thumbprint = key_thumbprint

    @classmethod
    def from_payload(
        cls,
        payload: dict[str, Any],
        header: Mapping[str, Any],
        raw: str,
        key_thumbprint: str,
        rules: ClaimRules,
    ) -> VerifiedToken:
        """The validator's constructor: ``payload`` is handed over and never changed again
        (the caller keeps no reference to it); everything else is derived on first use."""
        token = _new(cls)
        token._payload = payload
        token._rules = rules
        token._header = header
        token._raw = raw
        token._key_thumbprint = key_thumbprint
        token._claims = None
        token._roles = None
        token._permissions = None
        token._scopes = None
        return token

    @property
    def header(self) -> Mapping[str, Any]:
        """The protected header, deeply read-only."""
        return self._header

    @property
    def raw(self) -> str:
        """The token string itself. Do not log it."""
        return self._raw

    @property
    def key_thumbprint(self) -> str:
        """Thumbprint of the key that verified the signature."""
        return self._key_thumbprint

    def _source(self) -> Mapping[str, Any]:
        # The parsed payload while the frozen claims are not built yet: both hold the
        # same values, and the payload is never mutated.
        payload = self._payload
        return payload if payload is not None else self.claims

    @property
    def claims(self) -> Mapping[str, Any]:
        """Every claim of the payload, deeply read-only (objects as mappings, arrays as
        tuples)."""
        claims = self._claims
        if claims is None:
            # Two threads may both build it: they build equal values, either is kept.
            claims = freeze(self._payload)
            self._claims = claims
        return claims

    @property
    def roles(self) -> frozenset[str]:
        """The roles, read from the configured roles claims (empty when none is present)."""
        roles = self._roles
        if roles is None:
            roles = self._rules.roles(self._source())  # type: ignore[union-attr]
            self._roles = roles
        return roles

    @property
    def permissions(self) -> frozenset[str]:
        """Auth0 RBAC permissions, read from the permissions claim (``permissions``)."""
        permissions = self._permissions
        if permissions is None:
            permissions = self._rules.permissions(self._source())  # type: ignore[union-attr]
            self._permissions = permissions
        return permissions

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes, read from the space-separated scope claim (``scope``)."""
        scopes = self._scopes
        if scopes is None:
            scopes = self._rules.scopes(self._source())  # type: ignore[union-attr]
            self._scopes = scopes
        return scopes

    @property
    def subject(self) -> str:
        """``sub``: the user (``auth0|…``) or, for M2M tokens, ``<client_id>@clients``."""
        return str(self._source()["sub"])

    @property
    def issuer(self) -> str:
        """``iss``: the issuer that signed the token, as the token spells it."""
        return str(self._source()["iss"])

    @property
    def audience(self) -> tuple[str, ...]:
        """``aud`` as a tuple, whether the token carried a string or an array."""
        aud = self._source()["aud"]
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def expires_at(self) -> datetime:
        """``exp`` as an aware :class:`~datetime.datetime` in UTC."""
        return datetime.fromtimestamp(self._source()["exp"], tz=timezone.utc)

    @property
    def client_id(self) -> str | None:
        """The OAuth client the token was issued to: RFC 9068 ``client_id``, else ``azp``."""
        claims = self._source()
        value = claims.get("client_id", claims.get("azp"))
        return value if isinstance(value, str) else None

    @property
    def dpop_thumbprint(self) -> str | None:
        """The RFC 7638 thumbprint of the key this token is bound to (``cnf.jkt``, RFC
        9449 §6.1), or ``None`` for a bearer token. A bound token is accepted only with
        a DPoP proof signed by that key, so its presence means the request proved it."""
        cnf = self._source().get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        return jkt if isinstance(jkt, str) else None

    @property
    def dpop_bound(self) -> bool:
        """Whether the token is DPoP-bound (and so came with a valid proof)."""
        return self.dpop_thumbprint is not None

    def __repr__(self) -> str:  # never print the token itself
        claims = self._source()
        return f"<VerifiedToken sub={claims.get('sub')!r} iss={claims.get('iss')!r}>"
