"""Roles, permissions and scopes read from claims, and deep freezing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest

from claimguard.claims import PROTOCOL_CLAIMS
from claimguard.claims import ClaimRules
from claimguard.claims import check_roles_claim
from claimguard.claims import freeze
from claimguard.errors import ConfigurationError

ROLES = "https://my-app.example.com/roles"
LOW_TRUST = "https://other.example.com/roles"


def frozen(claims: dict[str, Any]) -> Mapping[str, Any]:
    frozen_claims: Mapping[str, Any] = freeze(claims)
    return frozen_claims


# -- where roles are read ---------------------------------------------------------------


def test_namespaced_uri_claim_is_read_literally() -> None:
    """A name is taken literally; URIs contain dots and slashes."""
    rules = ClaimRules(ROLES)
    claims = frozen({ROLES: ["admin", "viewer"], "https": {"//my-app": ["wrong"]}})
    assert rules.roles(claims) == frozenset({"admin", "viewer"})


def test_dotted_name_is_not_a_path() -> None:
    """A dotted name is one claim, never a path into nested objects."""
    rules = ClaimRules("realm_access.roles")
    assert rules.roles(frozen({"realm_access": {"roles": ["admin"]}})) == frozenset()
    assert rules.roles(frozen({"realm_access.roles": ["admin"]})) == frozenset({"admin"})


def test_json_pointer_reads_nested_claims() -> None:
    """RFC 6901: a name starting with "/" is a JSON Pointer, e.g. /realm_access/roles."""
    rules = ClaimRules("/realm_access/roles")
    claims = frozen({"realm_access": {"roles": ["admin"]}, "/realm_access/roles": ["x"]})
    assert rules.roles(claims) == frozenset({"admin"})


def test_json_pointer_escapes() -> None:
    """RFC 6901 §4: "~1" is "/" and "~0" is "~", decoded in that order ("~01" is "~1")."""
    claims = frozen({"https://x.example/roles": ["a"], "a~b": {"c/d": ["b"]}, "~1": ["c"]})
    assert ClaimRules("/https:~1~1x.example~1roles").roles(claims) == frozenset({"a"})
    assert ClaimRules("/a~0b/c~1d").roles(claims) == frozenset({"b"})
    assert ClaimRules("/~01").roles(claims) == frozenset({"c"})


def test_json_pointer_does_not_index_arrays() -> None:
    """A role list is never reached through a position."""
    rules = ClaimRules("/groups/0")
    assert rules.roles(frozen({"groups": [["admin"]]})) == frozenset()


def test_json_pointer_through_a_non_object_is_absent() -> None:
    """Traversal stops at anything that is not an object."""
    rules = ClaimRules(["/realm_access/roles", ROLES])
    claims = frozen({"realm_access": "admin", ROLES: ["viewer"]})
    assert rules.roles(claims) == frozenset({"viewer"})


def test_first_present_claim_wins() -> None:
    """Of several roles claims, the first one present is the only one read."""
    rules = ClaimRules([ROLES, LOW_TRUST])
    assert rules.roles(frozen({ROLES: ["viewer"], LOW_TRUST: ["admin"]})) == {"viewer"}
    assert rules.roles(frozen({LOW_TRUST: ["admin"]})) == {"admin"}
    assert rules.roles(frozen({})) == frozenset()


@pytest.mark.parametrize("malformed", [None, "admin", {"admin": True}, [["admin"]], ["a", 1]])
def test_malformed_first_claim_never_falls_through(malformed: object) -> None:
    """A malformed first claim means no roles, not the lower-trust claim's."""
    rules = ClaimRules([ROLES, LOW_TRUST])
    assert rules.roles(frozen({ROLES: malformed, LOW_TRUST: ["admin"]})) == frozenset()


def test_roles_claim_present_reports_any_configured_claim() -> None:
    """Diagnostics: whether a configured roles claim is in the token at all."""
    rules = ClaimRules([ROLES, "/realm_access/roles"])
    assert not rules.roles_claim_present(frozen({"roles": ["admin"]}))
    assert rules.roles_claim_present(frozen({"realm_access": {"roles": []}}))


def test_no_roles_claim_configured_means_no_roles() -> None:
    """Without CLAIMGUARD_ROLES_CLAIM no claim is ever read as roles."""
    for rules in (ClaimRules(), ClaimRules(None), ClaimRules([])):
        assert rules.roles_claims == ()
        assert rules.roles(frozen({"roles": ["admin"], ROLES: ["admin"]})) == frozenset()


# -- shapes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("admin", "string"),
        ("admin editor", "string"),
        (None, "null"),
        ({"admin": True}, "object"),
        ([["admin"]], "array with non-string items"),
        (["admin", 1], "array with non-string items"),
        (["admin", None], "array with non-string items"),
        (True, "boolean"),
        (1, "number"),
    ],
)
def test_roles_of_another_shape_are_empty_and_logged(
    value: object, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only an array of strings holds roles; anything else is none + a WARNING."""
    caplog.set_level(logging.WARNING, logger="claimguard")
    assert ClaimRules(ROLES).roles(frozen({ROLES: value})) == frozenset()
    records = [r for r in caplog.records if r.name == "claimguard"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert shape in records[0].getMessage()


def test_roles_string_is_never_a_substring_match() -> None:
    """ "administrator" as a string never grants "admin"."""
    assert "admin" not in ClaimRules(ROLES).roles(frozen({ROLES: "administrator"}))


def test_empty_roles_array_is_no_roles_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An empty array is well-formed: no roles, nothing to log."""
    caplog.set_level(logging.WARNING, logger="claimguard")
    assert ClaimRules(ROLES).roles(frozen({ROLES: []})) == frozenset()
    assert caplog.records == []


def test_matching_is_exact_and_case_sensitive() -> None:
    """ "Admin" and " admin" are not "admin"."""
    roles = ClaimRules(ROLES).roles(frozen({ROLES: ["Admin", " admin", "admin "]}))
    assert "admin" not in roles
    assert roles == frozenset({"Admin", " admin", "admin "})


def test_permissions_array_of_strings() -> None:
    """Auth0 RBAC: permissions is an array of strings."""
    rules = ClaimRules()
    claims = frozen({"permissions": ["read:products", "write:products"]})
    assert rules.permissions(claims) == frozenset({"read:products", "write:products"})


def test_permissions_absent_is_empty_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """No RBAC permissions claim: no permissions, and nothing to log."""
    caplog.set_level(logging.WARNING, logger="claimguard")
    assert ClaimRules().permissions(frozen({})) == frozenset()
    assert caplog.records == []


@pytest.mark.parametrize(
    "value", ["read:products", None, {"read:products": True}, [["read:products"]], ["a", 2]]
)
def test_permissions_of_another_shape_are_empty_and_logged(
    value: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The same array-of-strings rule as roles, with a WARNING."""
    caplog.set_level(logging.WARNING, logger="claimguard")
    assert ClaimRules().permissions(frozen({"permissions": value})) == frozenset()
    assert [r.levelno for r in caplog.records if r.name == "claimguard"] == [logging.WARNING]


def test_custom_permissions_claim() -> None:
    """CLAIMGUARD_PERMISSIONS_CLAIM names where permissions are read."""
    rules = ClaimRules(permissions_claim="https://x.example/perms")
    claims = frozen({"permissions": ["a"], "https://x.example/perms": ["b"]})
    assert rules.permissions(claims) == frozenset({"b"})


def test_permissions_and_roles_are_separate() -> None:
    """Roles, scopes and permissions are separate sets; none stands in for another."""
    rules = ClaimRules(ROLES)
    claims = frozen({"permissions": ["admin"], "scope": "admin"})
    assert rules.roles(claims) == frozenset()
    assert rules.permissions(claims) == frozenset({"admin"})
    assert rules.scopes(claims) == frozenset({"admin"})


# -- scopes -----------------------------------------------------------------------------


def test_scope_string_is_split_on_spaces() -> None:
    """RFC 8693 §4.2: scope is a space-separated list."""
    scopes = ClaimRules().scopes(frozen({"scope": "openid read:products write:products"}))
    assert scopes == frozenset({"openid", "read:products", "write:products"})


def test_scope_double_and_edge_spaces_are_ignored() -> None:
    """Empty entries between double spaces are not scopes."""
    scopes = ClaimRules().scopes(frozen({"scope": " read  write "}))
    assert scopes == frozenset({"read", "write"})


def test_scope_splits_on_space_only() -> None:
    """RFC 6749 §3.3: only %x20 separates scope tokens; a tab is part of a token."""
    scopes = ClaimRules().scopes(frozen({"scope": "read\twrite"}))
    assert scopes == frozenset({"read\twrite"})


def test_scope_array_is_accepted() -> None:
    """Some providers send scp as an array of strings."""
    rules = ClaimRules(scope_claim="scp")
    assert rules.scopes(frozen({"scp": ["read", "write"], "scope": "other"})) == {"read", "write"}


def test_scope_absent_or_empty_is_no_scopes() -> None:
    """No scope claim, or an empty one, grants nothing."""
    rules = ClaimRules()
    assert rules.scopes(frozen({})) == frozenset()
    assert rules.scopes(frozen({"scope": ""})) == frozenset()


@pytest.mark.parametrize("value", [None, 5, {"read": True}, ["read", 1]])
def test_scope_of_another_shape_is_empty_and_logged(
    value: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A scope that is neither a string nor an array of strings grants nothing."""
    caplog.set_level(logging.WARNING, logger="claimguard")
    assert ClaimRules().scopes(frozen({"scope": value})) == frozenset()
    assert [r.levelno for r in caplog.records if r.name == "claimguard"] == [logging.WARNING]


def test_scope_matching_is_case_sensitive() -> None:
    """RFC 6749 §3.3: scope strings are case-sensitive."""
    assert "read" not in ClaimRules().scopes(frozen({"scope": "READ Read"}))


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROTOCOL_CLAIMS))
def test_roles_claim_naming_a_protocol_claim_is_refused(name: str) -> None:
    """A protocol claim can never hold roles; refused at start-up."""
    with pytest.raises(ConfigurationError, match="protocol claim"):
        ClaimRules(name)


@pytest.mark.parametrize("pointer", ["/scope", "/sub", "/cnf/jkt", "/act/sub", "/aud"])
def test_roles_pointer_into_a_protocol_claim_is_refused(pointer: str) -> None:
    """A JSON Pointer whose first step is a protocol claim is refused too."""
    with pytest.raises(ConfigurationError, match="protocol claim"):
        ClaimRules([ROLES, pointer])


def test_protocol_claims_list_matches_the_design() -> None:
    """Exactly these protocol claims are named (RFC 7519, RFC 9068, OIDC Core)."""
    named = {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "client_id", "scope", "scp",
        "cnf", "act", "may_act", "auth_time", "acr", "amr", "sid", "nonce", "at_hash",
        "c_hash", "typ",
    }  # fmt: skip
    assert named == PROTOCOL_CLAIMS


@pytest.mark.parametrize("name", ["roles", "groups", "entitlements", "/realm_access/roles", ROLES])
def test_rfc9068_and_namespaced_roles_claims_are_allowed(name: str) -> None:
    """RFC 9068 §2.2.3.1: roles, groups and entitlements are roles claims by design."""
    assert ClaimRules(name).roles_claims == (name,)
    assert check_roles_claim(name) == name


@pytest.mark.parametrize("name", ["", "/", 5, None, b"roles"])
def test_roles_claim_must_be_a_non_empty_name(name: object) -> None:
    """An empty or non-string roles claim name is a configuration error."""
    with pytest.raises(ConfigurationError):
        ClaimRules([name])  # type: ignore[list-item]


@pytest.mark.parametrize("pointer", ["/a~2b", "/a~", "/~/roles"])
def test_roles_pointer_with_an_invalid_escape_is_refused(pointer: str) -> None:
    """RFC 6901 §3: "~" is only valid as "~0" or "~1" in a JSON Pointer."""
    with pytest.raises(ConfigurationError, match="JSON Pointer"):
        ClaimRules(pointer)


def test_roles_claims_of_the_wrong_type_is_a_configuration_error() -> None:
    """A number where a claim name (or list) belongs fails at start-up, not at request time."""
    with pytest.raises(ConfigurationError):
        ClaimRules(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["scope_claim", "permissions_claim"])
@pytest.mark.parametrize("value", ["", None, 5])
def test_scope_and_permissions_claims_must_be_names(field: str, value: object) -> None:
    """CLAIMGUARD_SCOPE_CLAIM and _PERMISSIONS_CLAIM are non-empty strings."""
    with pytest.raises(ConfigurationError):
        ClaimRules(**{field: value})


# -- freeze -----------------------------------------------------------------------------


def test_freeze_is_deep_and_read_only() -> None:
    """Claims are deeply read-only; objects become mappings, arrays tuples."""
    claims = frozen({"a": {"b": [1, {"c": [2]}]}, "roles": ["admin"]})
    assert isinstance(claims, MappingProxyType)
    assert claims["a"]["b"] == (1, MappingProxyType({"c": (2,)}))
    assert claims["roles"] == ("admin",)
    with pytest.raises(TypeError):
        claims["roles"] = ["admin", "root"]  # type: ignore[index]
    with pytest.raises(TypeError):
        claims["a"]["b"][1]["c"] = 3


def test_freeze_copies() -> None:
    """Mutating the parsed dict afterwards cannot change the frozen claims."""
    raw: dict[str, Any] = {"roles": ["viewer"], "nested": {"k": "v"}}
    claims = frozen(raw)
    raw["roles"].append("admin")
    raw["nested"]["k"] = "changed"
    raw["new"] = 1
    assert claims == {"roles": ("viewer",), "nested": {"k": "v"}}
