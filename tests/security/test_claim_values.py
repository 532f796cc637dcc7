"""Claim attacks, on tokens genuinely signed by the trusted issuer (the attacker got the
issuer to sign something odd, or found a second parser that reads it differently):
NumericDates that are not usable numbers, audiences and issuers that almost match, an ID
token passed as an access token, a valid token from another tenant, duplicate JSON
members, deep nesting, and the 8 KiB token cap from both sides.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from claimguard.bearer import MAX_TOKEN_BYTES
from claimguard.testing import ForgedIssuer

from .attacks import ADMIN_ONLY
from .attacks import AUDIENCE
from .attacks import AUDIENCE_MISMATCH
from .attacks import BOUND
from .attacks import CLAIMS
from .attacks import EXPIRED
from .attacks import ISSUER
from .attacks import MALFORMED
from .attacks import NOT_YET
from .attacks import ROLES
from .attacks import SIGNATURE
from .attacks import TOO_LARGE
from .attacks import UNKNOWN_KEY
from .attacks import bearer
from .attacks import build_api
from .attacks import check_refusal
from .attacks import sized_token

ADMIN = {"roles": ["admin"]}


def raw_payload(issuer: ForgedIssuer, raw: dict[str, str], **claims: Any) -> bytes:
    """The admin claims with members whose JSON text is given verbatim (``NaN``,
    ``1e400``, duplicates): what ``json.dumps`` would never write."""
    base = issuer.claims(**{**ADMIN, **claims})
    for name in raw:
        base.pop(name, None)
    members = [json.dumps(base)[1:-1]]
    members += [f"{json.dumps(name)}: {text}" for name, text in raw.items()]
    return ("{" + ", ".join(members) + "}").encode()


def signed(issuer: ForgedIssuer, payload: bytes) -> str:
    return issuer.sign({"alg": "RS256", "typ": "JWT", "kid": issuer.kid}, payload)


# -- exp, nbf, iat: NumericDates (RFC 7519 §2) -------------------------

NOW = int(time.time())

# name: (claims, raw JSON members, description)
TIME_CASES: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    "exp-missing": ({"exp": None}, {}, CLAIMS),
    "exp-explicit-null": ({}, {"exp": "null"}, CLAIMS),
    "exp-numeric-string": ({"exp": str(NOW + 3600)}, {}, CLAIMS),
    "exp-iso-date-string": ({"exp": "2099-01-01T00:00:00Z"}, {}, CLAIMS),
    "exp-true": ({"exp": True}, {}, CLAIMS),
    "exp-false": ({"exp": False}, {}, CLAIMS),
    "exp-list": ({"exp": [NOW + 3600]}, {}, CLAIMS),
    "exp-object": ({"exp": {"$numberLong": str(NOW + 3600)}}, {}, CLAIMS),
    "exp-nan-literal": ({}, {"exp": "NaN"}, MALFORMED),
    "exp-infinity-literal": ({}, {"exp": "Infinity"}, MALFORMED),
    "exp-1e400-overflows-to-infinity": ({}, {"exp": "1e400"}, CLAIMS),
    "exp-1e20": ({"exp": 1e20}, {}, CLAIMS),
    "exp-10-to-the-30": ({"exp": 10**30}, {}, CLAIMS),
    "exp-5000-digit-integer": ({}, {"exp": "9" * 5000}, MALFORMED),
    "exp-negative": ({"exp": -1}, {}, EXPIRED),
    "exp-zero": ({"exp": 0}, {}, EXPIRED),
    "exp-an-hour-ago": ({"exp": NOW - 3600}, {}, EXPIRED),
    "exp-minus-infinity-literal": ({}, {"exp": "-Infinity"}, MALFORMED),
    "nbf-in-an-hour": ({"nbf": NOW + 3600}, {}, NOT_YET),
    "nbf-string": ({"nbf": str(NOW)}, {}, CLAIMS),
    "nbf-false": ({"nbf": False}, {}, CLAIMS),
    "nbf-nan-literal": ({}, {"nbf": "NaN"}, MALFORMED),
    "nbf-1e400": ({}, {"nbf": "-1e400"}, CLAIMS),
    "iat-in-an-hour": ({"iat": NOW + 3600}, {}, NOT_YET),
    "iat-string": ({"iat": "now"}, {}, CLAIMS),
    "iat-true": ({"iat": True}, {}, CLAIMS),
    "iat-list": ({"iat": [NOW]}, {}, CLAIMS),
}


@pytest.mark.parametrize("case", list(TIME_CASES))
def test_unusable_time_claim(client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    claims, raw, description = TIME_CASES[case]
    fresh = {"exp": int(time.time()) + 3600, "iat": int(time.time())}
    token = signed(issuer, raw_payload(issuer, raw, **{**fresh, **claims}))
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", description)


@pytest.mark.parametrize("exp_offset", [3600.5, 3600.0], ids=["fraction", "float-whole"])
def test_exp_as_a_float_is_accepted(
    client: FlaskClient, issuer: ForgedIssuer, exp_offset: float
) -> None:
    """RFC 7519 §2: a NumericDate may have a fraction. Accepted."""
    token = issuer.mint(roles=["admin"], exp=time.time() + exp_offset)
    assert client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


# -- aud ----------------------------------------------------------------------------------

AUD_CASES: dict[str, tuple[Any, str]] = {
    "missing": (None, CLAIMS),
    "empty-string": ("", AUDIENCE_MISMATCH),
    "empty-list": ([], CLAIMS),
    "number": (42, CLAIMS),
    "object": ({"aud": AUDIENCE}, CLAIMS),
    "nested-list": ([[AUDIENCE]], CLAIMS),
    "list-with-a-non-string": ([AUDIENCE, 42], CLAIMS),
    "another-api": ("https://other.example.com", AUDIENCE_MISMATCH),
    "list-without-ours": (["https://a.example.com", "https://b.example.com"], AUDIENCE_MISMATCH),
    "trailing-slash": (AUDIENCE + "/", AUDIENCE_MISMATCH),
    "uppercased": (AUDIENCE.upper(), AUDIENCE_MISMATCH),
    "leading-space": (" " + AUDIENCE, AUDIENCE_MISMATCH),
    "nul-suffix": (AUDIENCE + "\x00", AUDIENCE_MISMATCH),
    "wildcard": ("*", AUDIENCE_MISMATCH),
    "prefix-of-ours": (AUDIENCE[:-4], AUDIENCE_MISMATCH),
    "ours-as-subdomain": ("https://products.example.com.evil.example", AUDIENCE_MISMATCH),
}


@pytest.mark.parametrize("case", list(AUD_CASES))
def test_aud_not_ours(client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    aud, description = AUD_CASES[case]
    token = issuer.mint(roles=["admin"], aud=aud)
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", description)


def test_aud_explicit_null(client: FlaskClient, issuer: ForgedIssuer) -> None:
    token = signed(issuer, raw_payload(issuer, {"aud": "null"}))
    check_refusal(client.delete(ADMIN_ONLY, headers=bearer(token)), 401, "invalid_token", CLAIMS)


def test_aud_list_containing_ours_is_accepted(client: FlaskClient, issuer: ForgedIssuer) -> None:
    """RFC 7519 §4.1.3: one of the values must be ours (Auth0 adds its /userinfo)."""
    token = issuer.mint(roles=["admin"], aud=["https://tenant.example/userinfo", AUDIENCE])
    assert client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


# -- iss: matched exactly, before any key is fetched --------------------------------------


def _iss_variants(issuer: ForgedIssuer) -> dict[str, Any]:
    iss = issuer.issuer
    port = iss.split(":")[2].rstrip("/")
    return {
        "missing": None,
        "without-trailing-slash": iss.rstrip("/"),
        "doubled-trailing-slash": iss + "/",
        "uppercase-scheme": iss.replace("http://", "HTTP://"),
        "localhost-instead-of-127": iss.replace("127.0.0.1", "localhost"),
        "https-instead-of-http": iss.replace("http://", "https://"),
        "leading-space": " " + iss,
        "trailing-newline": iss + "\n",
        "with-path": iss + "tenant/",
        "lookalike-host": iss.replace(":" + port, f":{port}.evil.example"),
        "userinfo-trick": iss.replace("http://", "http://127.0.0.1@evil.example"),
        "list-of-ours": [iss],
        "object": {"iss": iss},
        "number": 1,
    }


ISS_CASES = [
    "missing",
    "without-trailing-slash",
    "doubled-trailing-slash",
    "uppercase-scheme",
    "localhost-instead-of-127",
    "https-instead-of-http",
    "leading-space",
    "trailing-newline",
    "with-path",
    "lookalike-host",
    "userinfo-trick",
    "list-of-ours",
    "object",
    "number",
]


@pytest.mark.parametrize("case", ISS_CASES)
def test_iss_almost_ours(cold_client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    token = issuer.mint(roles=["admin"], iss=_iss_variants(issuer)[case])
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ISSUER)


def test_iss_explicit_null(cold_client: FlaskClient, issuer: ForgedIssuer) -> None:
    token = signed(issuer, raw_payload(issuer, {"iss": "null"}))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", ISSUER)


# -- an ID token used as an access token -------------------------------------------------

ID_TOKENS: dict[str, dict[str, Any]] = {
    "aud-client-id": {"aud": "k3Xq9ClientId0123", "azp": "k3Xq9ClientId0123", "nonce": "n-0S6"},
    "aud-client-id-with-at-hash": {
        "aud": "k3Xq9ClientId0123",
        "nonce": "n-0S6",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "auth_time": NOW,
        "email": "admin@example.com",
    },
    "aud-list-of-clients": {"aud": ["k3Xq9ClientId0123", "other-client"], "nonce": "n"},
}


@pytest.mark.parametrize("case", list(ID_TOKENS))
def test_id_token_as_an_access_token(client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    """A login ID token (OIDC Core §2) is signed by the same issuer, but its audience is
    the client, not this API."""
    token = issuer.mint(roles=["admin"], **ID_TOKENS[case])
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", AUDIENCE_MISMATCH)


# -- a valid token from another tenant ---------------------------------------------------


@pytest.fixture(scope="module")
def other_tenant() -> Iterator[ForgedIssuer]:
    """Another Auth0 tenant (or an attacker's own tenant) with the same API identifier."""
    with ForgedIssuer(audience=AUDIENCE, roles_claim=ROLES) as forged:
        yield forged


def test_other_tenant_token_as_is(cold_client: FlaskClient, other_tenant: ForgedIssuer) -> None:
    """Signature valid under its own issuer; that issuer is not ours: no fetch at all."""
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(other_tenant.mint(**ADMIN)))
    check_refusal(response, 401, "invalid_token", ISSUER)


OTHER_TENANT_FORGERIES: dict[str, tuple[Callable[[ForgedIssuer, ForgedIssuer], str], str]] = {
    "our-iss-their-kid": (
        lambda ours, theirs: theirs.mint(iss=ours.issuer, **ADMIN),
        UNKNOWN_KEY,
    ),
    "our-iss-our-kid": (
        lambda ours, theirs: theirs.mint(iss=ours.issuer, headers={"kid": ours.kid}, **ADMIN),
        SIGNATURE,
    ),
    "our-iss-no-kid": (
        lambda ours, theirs: theirs.mint(iss=ours.issuer, headers={"kid": None}, **ADMIN),
        SIGNATURE,
    ),
}


@pytest.mark.parametrize("case", list(OTHER_TENANT_FORGERIES))
def test_other_tenant_key_claiming_our_issuer(
    client: FlaskClient, issuer: ForgedIssuer, other_tenant: ForgedIssuer, case: str
) -> None:
    forge, description = OTHER_TENANT_FORGERIES[case]
    response = client.delete(ADMIN_ONLY, headers=bearer(forge(issuer, other_tenant)))
    check_refusal(response, 401, "invalid_token", description)


def test_two_trusted_tenants_keys_do_not_cross(
    issuer: ForgedIssuer, other_tenant: ForgedIssuer, databases: Path
) -> None:
    """Both tenants trusted (each key set found by discovery): a token claiming tenant
    A but signed by tenant B's key, with B's kid, is refused; each alone passes."""
    config = {
        **issuer.config(),
        "CLAIMGUARD_ISSUER": [issuer.issuer, other_tenant.issuer],
        "CLAIMGUARD_JWKS_URL": None,
    }
    client = build_api(databases, config).test_client()
    assert client.get("/me", headers=bearer(issuer.mint())).status_code == 200
    assert client.get("/me", headers=bearer(other_tenant.mint())).status_code == 200
    crossed = other_tenant.mint(iss=issuer.issuer, **ADMIN)
    response = client.delete(ADMIN_ONLY, headers=bearer(crossed))
    check_refusal(response, 401, "invalid_token", UNKNOWN_KEY)


# -- duplicate JSON members: where two parsers disagree ----------------------------------

DUPLICATES: dict[str, dict[str, str]] = {
    "aud-ours-then-other": {"aud": json.dumps(AUDIENCE), "aud#2": '"https://other.example"'},
    "aud-other-then-ours": {"aud": '"https://other.example"', "aud#2": json.dumps(AUDIENCE)},
    "roles-viewer-then-admin": {ROLES: '["viewer"]', ROLES + "#2": '["admin"]'},
    "roles-admin-then-viewer": {ROLES: '["admin"]', ROLES + "#2": '["viewer"]'},
    "exp-past-then-future": {"exp": "1", "exp#2": str(NOW + 3600)},
    "sub-twice": {"sub": '"auth0|victim"', "sub#2": '"auth0|attacker"'},
    "nested-roles-twice": {"realm_access": '{"roles": ["viewer"], "roles": ["admin"]}'},
}


def _duplicate_payload(issuer: ForgedIssuer, members: dict[str, str]) -> bytes:
    """The claims with ``members`` written verbatim; ``name#2`` writes ``name`` again."""
    base = issuer.claims()
    for name in members:
        base.pop(name.split("#")[0], None)
    text = ", ".join(f"{json.dumps(n.split('#')[0])}: {v}" for n, v in members.items())
    return (json.dumps(base)[:-1] + ", " + text + "}").encode()


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_duplicate_member_in_the_payload(
    cold_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """RFC 8725 §3.4 asks for strict parsing: Python keeps the last member, other
    parsers the first. Refused before any key is looked up."""
    token = signed(issuer, _duplicate_payload(issuer, DUPLICATES[case]))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_duplicate_roles_claim_written_with_an_escape(
    cold_client: FlaskClient, issuer: ForgedIssuer
) -> None:
    """The same member name spelled ``\\u0068ttps://...``: identical once decoded."""
    escaped = "\\u0068" + ROLES[1:]
    payload = json.dumps(issuer.claims(roles=["viewer"]))[:-1] + f', "{escaped}": ["admin"]}}'
    token = signed(issuer, payload.encode())
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


# -- deep nesting ----------------------------------------------------------------------------

NESTING = {
    "arrays-33": "[" * 33 + "]" * 33,
    "objects-33": '{"a":' * 33 + "1" + "}" * 33,
    "arrays-2000": "[" * 2000 + "]" * 2000,
    "objects-800": '{"a":' * 800 + "1" + "}" * 800,
    "unclosed-arrays-4000": "[" * 4000,
}


@pytest.mark.parametrize("case", list(NESTING))
def test_deeply_nested_claim(cold_client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    """Refused by a linear pre-scan, never a RecursionError (or a 500)."""
    token = signed(issuer, raw_payload(issuer, {"x": NESTING[case]}))
    assert len(token) <= MAX_TOKEN_BYTES
    started = time.perf_counter()
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    assert time.perf_counter() - started < 0.5
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_brackets_inside_a_string_are_not_nesting(
    client: FlaskClient, issuer: ForgedIssuer
) -> None:
    """Control: the depth scan skips strings; 2000 brackets in a claim value are data."""
    token = issuer.mint(roles=["admin"], note="[" * 2000 + "{" * 2000)
    assert client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


# -- sub and cnf ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sub", [None, "", 42, ["auth0|x"]], ids=["missing", "empty", "int", "list"]
)
def test_sub_missing_or_not_a_string(client: FlaskClient, issuer: ForgedIssuer, sub: Any) -> None:
    response = client.delete(ADMIN_ONLY, headers=bearer(issuer.mint(roles=["admin"], sub=sub)))
    check_refusal(response, 401, "invalid_token", CLAIMS)


CNF = {
    "dpop-jkt": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},
    "mtls-x5t-s256": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
    "empty-object": {},
}


@pytest.mark.parametrize("case", list(CNF))
def test_sender_constrained_token_replayed_as_bearer(
    client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """A stolen DPoP- or mTLS-bound token must not work without its key (RFC 9449,
    RFC 8705); claimguard cannot check the binding, so it refuses the token."""
    token = issuer.mint(roles=["admin"], cnf=CNF[case])
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", BOUND)


# -- the 8 KiB token cap, both sides ------------------------------------------------------


def test_token_of_exactly_8192_characters_passes(client: FlaskClient, issuer: ForgedIssuer) -> None:
    token = sized_token(issuer, MAX_TOKEN_BYTES, roles=["admin"])
    assert client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 404


def test_genuine_token_of_8193_characters_is_refused_before_any_fetch(
    cold_client: FlaskClient, issuer: ForgedIssuer
) -> None:
    token = sized_token(issuer, MAX_TOKEN_BYTES + 1, roles=["admin"])
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", TOO_LARGE)
