"""What a route requires of a verified token (claimguard.requirements), without Flask:
names checked when the route is set up, ``optional`` refused beside a requirement, and
all-of / any-of matching that is exact."""

from __future__ import annotations

import pytest

from claimguard import ConfigurationError
from claimguard import InsufficientScopeError
from claimguard import TokenValidator
from claimguard.claims import ClaimRules
from claimguard.requirements import Requirement
from claimguard.requirements import check_optional
from claimguard.requirements import names
from claimguard.testing import ForgedIssuer

ROLES = "https://my-app.example.com/roles"


@pytest.mark.parametrize(
    ("values", "accepted"),
    [
        (("admin",), True),
        (("admin", "editor"), True),
        ((), False),
        (("",), False),
        (("  ",), False),
        ((None,), False),
        ((print,), False),
    ],
)
def test_names_are_non_empty_strings(values: tuple[object, ...], accepted: bool) -> None:
    if accepted:
        assert names(values, "requires_role") == values
    else:
        with pytest.raises(TypeError, match="requires_role"):
            names(values, "requires_role")


def test_optional_is_a_bool_and_never_beside_a_requirement() -> None:
    admin = (Requirement("roles", ("admin",)),)
    assert check_optional(True, ()) is True
    assert check_optional(False, admin) is False
    with pytest.raises(TypeError, match="optional=True cannot be combined"):
        check_optional(True, admin)
    with pytest.raises(TypeError, match="optional must be True or False"):
        check_optional("false", ())


@pytest.mark.parametrize(
    ("match", "held", "met"),
    [
        ("all", ["admin", "editor"], True),
        ("all", ["admin"], False),
        ("any", ["editor"], True),
        ("any", ["Editor"], False),
        ("any", [], False),
    ],
)
def test_all_of_and_any_of(
    forged_issuer: ForgedIssuer, match: str, held: list[str], met: bool
) -> None:
    validator: TokenValidator = forged_issuer.validator(roles_claims=[ROLES])
    token = validator.validate(forged_issuer.mint(**{ROLES: held}))
    requirement = Requirement("roles", ("admin", "editor"), match)
    if met:
        requirement.check(token, validator.rules)
    else:
        with pytest.raises(InsufficientScopeError) as info:
            requirement.check(token, validator.rules)
        assert info.value.reason == "roles.missing"
        assert info.value.match == match


def test_roles_required_without_a_roles_claim_is_a_configuration_error(
    forged_issuer: ForgedIssuer,
) -> None:
    token = forged_issuer.validator().validate(forged_issuer.mint())
    with pytest.raises(ConfigurationError, match="CLAIMGUARD_ROLES_CLAIM is not set"):
        Requirement("roles", ("admin",)).check(token, ClaimRules())
