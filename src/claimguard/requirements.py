"""What a route requires of a verified token: roles, scopes, permissions (all or any).

Flask-free. A failed requirement is a 403 ``insufficient_scope`` (RFC 6750 §3.1): the
token is valid, it lacks a privilege. Roles, scopes and permissions are separate sets;
none stands in for another.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from .claims import ClaimRules
from .errors import ConfigurationError
from .errors import InsufficientScopeError
from .errors import loggable
from .options import check_dpop_mode
from .token import VerifiedToken

__all__ = ["Requirement", "check_optional", "names", "route_dpop_mode"]


def names(values: Iterable[object], what: str) -> tuple[str, ...]:
    """Validate the names given to a decorator: at least one, each a non-empty string.

    :raises TypeError: at import time, so a typo can never yield a route that lets
        everyone in.
    """
    result: list[str] = []
    for value in values:
        if callable(value):
            raise TypeError(f"{what} must be called with names: write @{what}('admin')")
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{what} takes non-empty strings, got {value!r}")
        result.append(value)
    if not result:
        raise TypeError(f"{what} needs at least one name, e.g. {what}('admin')")
    return tuple(result)


_OPTIONAL_WITH_REQUIREMENTS = (
    "optional=True cannot be combined with roles, scopes or permissions: a request "
    "without a token would skip them. Require them, or drop optional=True"
)


def check_optional(optional: object, requirements: tuple[Requirement, ...]) -> bool:
    """Validate an ``optional`` flag when a route or blueprint is set up.

    :raises TypeError: ``optional`` is not a real ``bool`` (``"false"`` from an
        environment variable is a true string), or it is ``True`` while something is
        required: the "no credentials" answer would skip the requirement.
    """
    if not isinstance(optional, bool):
        raise TypeError(f"optional must be True or False, got {type(optional).__name__}")
    if optional and requirements:
        raise TypeError(_OPTIONAL_WITH_REQUIREMENTS)
    return optional


def route_dpop_mode(dpop: object) -> str | None:
    """Validate a route's ``dpop=`` when it is set up: ``None`` (the app's
    ``CLAIMGUARD_DPOP_MODE``), ``"off"``, ``"allowed"`` or ``"required"``.

    :raises TypeError: anything else, at import time.
    """
    if dpop is None:
        return None
    try:
        return check_dpop_mode(dpop, "dpop=")
    except ConfigurationError as exc:
        raise TypeError(str(exc)) from None


@dataclass(frozen=True)
class Requirement:
    """One check: ``kind`` (``roles``/``scopes``/``permissions``), names, ``all`` or ``any``."""

    kind: str
    required: tuple[str, ...]
    match: str = "all"
    _wanted: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_wanted", frozenset(self.required))

    def check(self, token: VerifiedToken, rules: ClaimRules) -> None:
        """Raise :class:`InsufficientScopeError` unless ``token`` meets this requirement.

        :raises ConfigurationError: a role is required but no roles claim is configured.
        """
        if self.kind == "roles" and not rules.roles_claims:
            raise ConfigurationError(
                "a route requires roles but CLAIMGUARD_ROLES_CLAIM is not set: configure "
                "the claim your Post-Login Action writes, e.g. "
                "'https://my-app.example.com/roles'"
            )
        held: frozenset[str] = getattr(token, self.kind)
        wanted = self._wanted
        satisfied = wanted <= held if self.match == "all" else not wanted.isdisjoint(held)
        if not satisfied:
            raise InsufficientScopeError(
                self.kind,
                self.required,
                self.match,
                detail=self._explain(token, held, rules),
            )

    def _explain(self, token: VerifiedToken, held: frozenset[str], rules: ClaimRules) -> str:
        need = "all of" if self.match == "all" else "one of"
        text = (
            f"sub {loggable(token.claims.get('sub'))} lacks {self.kind}: needs {need} "
            f"{list(self.required)}, has {sorted(held)[:20]}"
        )
        if self.kind == "roles":
            text += roles_hint(token.claims, rules)
        return text


def roles_hint(claims: Mapping[str, Any], rules: ClaimRules) -> str:
    """A plain-words hint for the usual Auth0 roles mistakes, for the operator's log."""
    if rules.roles_claim_present(claims):
        return ""
    configured = list(rules.roles_claims)
    elsewhere = sorted(
        name
        for name in claims
        if name not in configured and (name == "roles" or name.rstrip("/").endswith("/roles"))
    )
    if elsewhere:
        return (
            f"; the token has no {configured} claim but carries roles under "
            f"{[loggable(name) for name in elsewhere[:3]]}: set CLAIMGUARD_ROLES_CLAIM to the "
            "claim your Post-Login Action writes (a namespaced URI)"
        )
    return (
        f"; the token has no roles claim {configured}: is the Post-Login Action setting it "
        "on the access token (api.accessToken.setCustomClaim), not only on the ID token?"
    )
