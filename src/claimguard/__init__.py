"""claimguard: protect Flask APIs with Auth0 (and any OIDC) access tokens.

The Flask extension (:class:`ClaimGuard`, the ``requires_*`` decorators,
:data:`current_token`) sits on a Flask-free core: :class:`TokenValidator`,
:class:`JWKSCache`, :func:`parse_authorization` and the errors of
:mod:`claimguard.errors`, usable without an app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    __version__: str
    from .bearer import parse_authorization as parse_authorization
    from .claims import ClaimRules as ClaimRules
    from .context import current_token as current_token
    from .context import get_current_token as get_current_token
    from .decorators import requires_any_permission as requires_any_permission
    from .decorators import requires_any_role as requires_any_role
    from .decorators import requires_any_scope as requires_any_scope
    from .decorators import requires_auth as requires_auth
    from .decorators import requires_permission as requires_permission
    from .decorators import requires_role as requires_role
    from .decorators import requires_scope as requires_scope
    from .errors import BearerError as BearerError
    from .errors import ClaimGuardError as ClaimGuardError
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ExpiredTokenError as ExpiredTokenError
    from .errors import InsufficientScopeError as InsufficientScopeError
    from .errors import InvalidRequestError as InvalidRequestError
    from .errors import InvalidTokenError as InvalidTokenError
    from .errors import KeySetUnavailableError as KeySetUnavailableError
    from .errors import MissingTokenError as MissingTokenError
    from .extension import ClaimGuard as ClaimGuard
    from .jwks import JWKSCache as JWKSCache
    from .jwks import KeySetStatus as KeySetStatus
    from .token import VerifiedToken as VerifiedToken
    from .validation import TokenValidator as TokenValidator

# Public name -> submodule. Imported on first access (PEP 562), so that importing a
# submodule (e.g. the pytest plugin claimguard.testing.pytest_plugin) does not load
# requests, cryptography, PyJWT and Flask.
_EXPORTS = {
    "parse_authorization": ".bearer",
    "ClaimRules": ".claims",
    "current_token": ".context",
    "get_current_token": ".context",
    "requires_any_permission": ".decorators",
    "requires_any_role": ".decorators",
    "requires_any_scope": ".decorators",
    "requires_auth": ".decorators",
    "requires_permission": ".decorators",
    "requires_role": ".decorators",
    "requires_scope": ".decorators",
    "BearerError": ".errors",
    "ClaimGuardError": ".errors",
    "ConfigurationError": ".errors",
    "ExpiredTokenError": ".errors",
    "InsufficientScopeError": ".errors",
    "InvalidRequestError": ".errors",
    "InvalidTokenError": ".errors",
    "KeySetUnavailableError": ".errors",
    "MissingTokenError": ".errors",
    "ClaimGuard": ".extension",
    "JWKSCache": ".jwks",
    "KeySetStatus": ".jwks",
    "TokenValidator": ".validation",
    "VerifiedToken": ".token",
}

__all__ = [
    "BearerError",
    "ClaimGuard",
    "ClaimGuardError",
    "ClaimRules",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidTokenError",
    "JWKSCache",
    "KeySetStatus",
    "KeySetUnavailableError",
    "MissingTokenError",
    "TokenValidator",
    "VerifiedToken",
    "current_token",
    "get_current_token",
    "parse_authorization",
    "requires_any_permission",
    "requires_any_role",
    "requires_any_scope",
    "requires_auth",
    "requires_permission",
    "requires_role",
    "requires_scope",
]


def _distribution_version() -> str:
    """The installed version, from the metadata of the ``flask-claimguard`` distribution
    (the import name is ``claimguard``); ``"0+unknown"`` when run from a source tree that
    was never installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("flask-claimguard")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read on first access, like the exports below
        globals()[name] = found = _distribution_version()
        return found
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
