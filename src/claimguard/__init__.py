"""claimguard: protect Flask APIs with Auth0 (and any OIDC) access tokens.

The Flask-free core is importable on its own: :class:`TokenValidator`,
:class:`JWKSCache`, :func:`parse_authorization` and the errors of
:mod:`claimguard.errors`.
"""

from __future__ import annotations

from .bearer import parse_authorization as parse_authorization
from .claims import ClaimRules as ClaimRules
from .errors import BearerError as BearerError
from .errors import ClaimGuardError as ClaimGuardError
from .errors import ConfigurationError as ConfigurationError
from .errors import ExpiredTokenError as ExpiredTokenError
from .errors import InsufficientScopeError as InsufficientScopeError
from .errors import InvalidRequestError as InvalidRequestError
from .errors import InvalidTokenError as InvalidTokenError
from .errors import KeySetUnavailableError as KeySetUnavailableError
from .errors import MissingTokenError as MissingTokenError
from .jwks import JWKSCache as JWKSCache
from .jwks import KeySetStatus as KeySetStatus
from .validation import TokenValidator as TokenValidator
from .validation import VerifiedToken as VerifiedToken

__all__ = [
    "BearerError",
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
    "parse_authorization",
]
