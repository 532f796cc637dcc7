"""The core without Flask: a validator for an Auth0 tenant, and a token checked by it.

The documentation's "The core, without Flask" section includes this file;
tests/test_doc_examples.py runs it against a forged issuer.
"""

from __future__ import annotations

from claimguard import JWKSCache
from claimguard import TokenValidator
from claimguard import VerifiedToken


def auth0_validator(domain: str) -> TokenValidator:
    keys = JWKSCache.for_auth0_domain(domain)  # no network yet: keys come on first use
    return TokenValidator(
        issuers={f"https://{domain}/": keys},
        audiences="https://products.example.com",
        roles_claims=["https://my-app.example.com/roles"],
    )


def check(validator: TokenValidator, raw_token: str) -> VerifiedToken:
    # Raises InvalidTokenError, KeySetUnavailableError, ... each with error.reason.
    return validator.validate(raw_token)
