"""Roles, permissions and scopes, read from a verified token's claims.

Auth0 puts roles wherever a Post-Login Action writes them, under a namespaced claim
such as ``https://my-app.example.com/roles``; other providers nest them
(``realm_access.roles``). The rules here are deliberately narrow, because a lenient
reading of an authorization claim is a privilege-escalation bug:

* A configured name is taken literally (URIs contain dots and slashes). A name that
  starts with ``/`` is a JSON Pointer (RFC 6901) into nested claims.
* When several roles claims are configured, the **first one present** is the only one
  read. If it is malformed the token has no roles: there is no fall-through to a later,
  lower-trust claim.
* Roles and permissions must be a JSON array of strings. Any other shape (a string,
  ``null``, an object, nested or mixed arrays) means *no roles*, with a log line: never
  a substring match.
* ``scope`` is the RFC 8693 §4.2 space-separated string; an array of strings is also
  accepted (some providers send ``scp`` as one).
* Matching is exact and case-sensitive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "PROTOCOL_CLAIMS",
    "ClaimRules",
    "freeze",
    "resolve_pointer",
]

log = logging.getLogger("claimguard")

#: Registered and protocol claims that can never hold roles. RFC 9068's
#: ``roles``, ``groups`` and ``entitlements`` are roles claims by design and stay allowed.
PROTOCOL_CLAIMS = frozenset(
    {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "client_id", "scope",
        "scp", "cnf", "act", "may_act", "auth_time", "acr", "amr", "sid", "nonce",
        "at_hash", "c_hash", "typ",
    }
)  # fmt: skip

_MISSING = object()
_BAD_POINTER_ESCAPE = re.compile(r"~(?![01])")


_SCALARS = (str, int, float, bool, type(None))


def freeze(value: Any) -> Any:
    """A deeply read-only copy of parsed JSON: objects become mapping proxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType(
            {
                key: item if isinstance(item, _SCALARS) else freeze(item)
                for key, item in value.items()
            }
        )
    if isinstance(value, list):
        if all(isinstance(item, _SCALARS) for item in value):
            return tuple(value)
        return tuple(freeze(item) for item in value)
    return value


def _pointer_tokens(pointer: str) -> list[str]:
    # RFC 6901 §4: "~1" is "/" and "~0" is "~", decoded in that order.
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer.split("/")[1:]]


def resolve_pointer(document: Mapping[str, Any], pointer: str) -> Any:
    """Resolve a JSON Pointer (RFC 6901) in ``document``; ``_MISSING`` when absent.

    Only objects are traversed: array indexes are not supported, since a role list is
    never reached through a position.
    """
    value: Any = document
    for token in _pointer_tokens(pointer):
        if not isinstance(value, Mapping) or token not in value:
            return _MISSING
        value = value[token]
    return value


def _string_set(value: Any, claim: str, what: str) -> frozenset[str]:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    log.warning(
        "%s claim %r is a %s, not an array of strings: the token has no %s",
        what,
        claim,
        _shape(value),
        what,
    )
    return frozenset()


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "array with non-string items"
    return {str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "object"
    )


class ClaimRules:
    """Where a token's roles, permissions and scopes are read, and how.

    :param roles_claims: claim names (or JSON Pointers) holding roles, in order of trust.
    :param scope_claim: the claim holding scopes (``scope``, or ``scp``).
    :param permissions_claim: the claim holding permissions (Auth0 RBAC: ``permissions``).
    :raises ConfigurationError: a roles claim is empty or names a protocol claim.
    """

    def __init__(
        self,
        roles_claims: str | Iterable[str] | None = (),
        scope_claim: str = "scope",
        permissions_claim: str = "permissions",
    ) -> None:
        names: tuple[str, ...]
        if roles_claims is None:
            names = ()
        elif isinstance(roles_claims, str):
            names = (roles_claims,)
        elif isinstance(roles_claims, (set, frozenset)):
            # Roles claims are read in order of trust; a set has no stable order.
            raise ConfigurationError("roles claims must be a string or an ordered list, not a set")
        elif isinstance(roles_claims, Iterable):
            names = tuple(roles_claims)
        else:
            raise ConfigurationError(
                f"roles_claims= must be a claim name or a list of them, got {roles_claims!r}"
            )
        for name in names:
            check_roles_claim(name)
        for setting, value in (("scope", scope_claim), ("permissions", permissions_claim)):
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"the {setting} claim must be a non-empty string")
        self.roles_claims: tuple[str, ...] = names
        self.scope_claim = scope_claim
        self.permissions_claim = permissions_claim

    def _lookup(self, claims: Mapping[str, Any], name: str) -> Any:
        if name.startswith("/"):
            return resolve_pointer(claims, name)
        return claims.get(name, _MISSING)

    def roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The roles of the first configured roles claim present in ``claims``."""
        for name in self.roles_claims:
            value = self._lookup(claims, name)
            if value is not _MISSING:
                return _string_set(value, name, "roles")
        return frozenset()

    def roles_claim_present(self, claims: Mapping[str, Any]) -> bool:
        """Whether any configured roles claim is present (for diagnostics)."""
        return any(self._lookup(claims, name) is not _MISSING for name in self.roles_claims)

    def permissions(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The permissions (Auth0 RBAC), or none when the claim is absent or malformed."""
        value = claims.get(self.permissions_claim, _MISSING)
        if value is _MISSING:
            return frozenset()
        return _string_set(value, self.permissions_claim, "permissions")

    def scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        """The scopes: a space-separated string (RFC 8693 §4.2) or an array of strings."""
        value = claims.get(self.scope_claim, _MISSING)
        if value is _MISSING:
            return frozenset()
        if isinstance(value, str):
            return frozenset(part for part in value.split(" ") if part)
        return _string_set(value, self.scope_claim, "scopes")


def check_roles_claim(name: object, setting: str = "roles_claims=") -> str:
    """Validate one configured roles claim name.

    :param setting: what the caller wrote, named in errors (``CLAIMGUARD_ROLES_CLAIM``).
    :raises ConfigurationError: not a non-empty string, or a protocol claim.
    """
    if not isinstance(name, str) or not name or name == "/":
        raise ConfigurationError(f"{setting} entries must be non-empty claim names, got {name!r}")
    if name.startswith("/") and _BAD_POINTER_ESCAPE.search(name):
        # RFC 6901 §3: "~" appears only as "~0" or "~1" in a JSON Pointer.
        raise ConfigurationError(
            f"{setting} {name!r} is not a valid JSON Pointer: write '~' as "
            "'~0' and '/' inside a name as '~1'"
        )
    top = _pointer_tokens(name)[0] if name.startswith("/") else name
    if top in PROTOCOL_CLAIMS:
        raise ConfigurationError(
            f"{setting} {name!r} names the protocol claim {top!r}, which can "
            "never hold roles; use the namespaced claim your Post-Login Action sets, "
            "e.g. 'https://my-app.example.com/roles'"
        )
    return name
