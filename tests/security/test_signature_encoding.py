"""Signature and encoding attacks: a tampered payload re-encoded (role escalation), a
signature taken from another token, missing or padded signatures, trailing data, and
every way to write base64url that a second parser could read differently (our parser's rule:
canonical, unpadded base64url; strict UTF-8 JSON objects).

The point of the encoding cases is parser differentials, so most are *signed with the
issuer's real key*: the refusal must come from the strict parser, not from a failed
signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from claimguard.testing import ForgedIssuer

from .attacks import ADMIN_ONLY
from .attacks import HEADER_MALFORMED
from .attacks import MALFORMED
from .attacks import SIGNATURE
from .attacks import b64
from .attacks import bearer
from .attacks import check_refusal
from .attacks import parts
from .attacks import unb64

# -- tampering -------------------------------------------------------------------------


def _reencode(token: str, *, compact: bool = False, **changes: object) -> str:
    """Change claims, re-encode the payload, keep the original signature."""
    header, _, signature = token.split(".")
    _, payload, _ = parts(token)
    payload.update(changes)
    separators = (",", ":") if compact else None
    return f"{header}.{b64(json.dumps(payload, separators=separators).encode())}.{signature}"


def _escalate(issuer: ForgedIssuer, token: str) -> str:
    return _reencode(token, **{issuer.roles_claim: ["admin"]})


def test_control_the_viewer_token_is_forbidden_not_unauthorised(
    client: FlaskClient, issuer: ForgedIssuer
) -> None:
    """Control: the untampered viewer token is valid (403 on the admin route)."""
    token = issuer.mint(roles=["viewer"])
    assert client.delete(ADMIN_ONLY, headers=bearer(token)).status_code == 403


TAMPERS: dict[str, Callable[[ForgedIssuer, str], str]] = {
    "role-viewer-to-admin": lambda issuer, token: _reencode(
        token, **{issuer.roles_claim: ["admin"]}
    ),
    "role-added-beside-viewer": lambda issuer, token: _reencode(
        token, **{issuer.roles_claim: ["viewer", "admin"]}
    ),
    "permission-added": lambda issuer, token: _reencode(token, permissions=["delete:products"]),
    "exp-extended-a-year": lambda issuer, token: _reencode(
        token, exp=parts(token)[1]["exp"] + 365 * 86400
    ),
    "sub-changed": lambda issuer, token: _reencode(token, sub="auth0|admin"),
    "same-claims-reserialised-compact": lambda issuer, token: _reencode(token, compact=True),
    "header-kid-changed": lambda issuer, token: ".".join(
        [b64(json.dumps({**parts(token)[0], "typ": "at+jwt"}).encode()), *token.split(".")[1:]]
    ),
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_tampered_token_keeping_the_original_signature(
    client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    token = TAMPERS[case](issuer, issuer.mint(roles=["viewer"]))
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", SIGNATURE)


def test_signature_of_another_genuine_token(client: FlaskClient, issuer: ForgedIssuer) -> None:
    """Both tokens are genuine; the admin one's signature is grafted on the viewer's
    header and payload, and the reverse."""
    viewer = issuer.mint(roles=["viewer"]).split(".")
    admin = issuer.mint(roles=["admin"], sub="auth0|someone-else").split(".")
    grafted = f"{admin[0]}.{admin[1]}.{viewer[2]}"
    check_refusal(
        client.delete(ADMIN_ONLY, headers=bearer(grafted)), 401, "invalid_token", SIGNATURE
    )


# -- the signature part ------------------------------------------------------------------

SIGNATURE_CASES: dict[str, tuple[Callable[[str], str], int, str]] = {
    # name: (transform of the genuine token, status, description)
    "empty-signature": (lambda t: t.rsplit(".", 1)[0] + ".", 401, MALFORMED),
    "no-signature-part": (lambda t: t.rsplit(".", 1)[0], 401, MALFORMED),
    "zero-bytes-of-the-right-length": (
        lambda t: t.rsplit(".", 1)[0] + "." + b64(bytes(256)),
        401,
        SIGNATURE,
    ),
    "truncated-one-byte": (
        lambda t: t.rsplit(".", 1)[0] + "." + b64(unb64(t.split(".")[2])[:-1]),
        401,
        SIGNATURE,
    ),
    "extra-bytes-appended": (
        lambda t: t.rsplit(".", 1)[0] + "." + b64(unb64(t.split(".")[2]) + b"\x00\x00\x00"),
        401,
        SIGNATURE,
    ),
    "signature-doubled": (lambda t: t + t.split(".")[2], 401, SIGNATURE),
    "one-bit-flipped": (
        lambda t: (
            t.rsplit(".", 1)[0]
            + "."
            + b64(bytes([unb64(t.split(".")[2])[0] ^ 1]) + unb64(t.split(".")[2])[1:])
        ),
        401,
        SIGNATURE,
    ),
    "trailing-dot": (lambda t: t + ".", 401, MALFORMED),
    "extra-part": (lambda t: t + ".AAAA", 401, MALFORMED),
    "leading-dot": (lambda t: "." + t, 401, MALFORMED),
    "double-dot-inside": (lambda t: t.replace(".", "..", 1), 401, MALFORMED),
    "padded-signature": (lambda t: t + "==", 401, MALFORMED),
    # A 2048-bit signature is 342 characters; 345 is 1 mod 4: no byte string has it.
    "impossible-length": (lambda t: t + "AAA", 401, MALFORMED),
    "tilde-in-signature": (lambda t: t[:-1] + "~", 401, MALFORMED),
    "space-inside": (lambda t: t.replace(".", ". ", 1), 400, HEADER_MALFORMED),
    "padded-header-part": (lambda t: t.replace(".", "==.", 1), 400, HEADER_MALFORMED),
}


@pytest.mark.parametrize("case", list(SIGNATURE_CASES))
def test_signature_part_attack(client: FlaskClient, issuer: ForgedIssuer, case: str) -> None:
    transform, status, description = SIGNATURE_CASES[case]
    token = transform(issuer.mint(roles=["admin"]))
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    error = "invalid_request" if status == 400 else "invalid_token"
    check_refusal(response, status, error, description)


def _with_unused_bits(part: str) -> str:
    """The same bytes written with non-zero unused bits in the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(part) % 4 in (2, 3), "this part has no unused bits"
    last = alphabet.index(part[-1])
    noncanonical = part[:-1] + alphabet[last | 1]
    assert noncanonical != part
    assert unb64(noncanonical) == unb64(part)  # a lenient decoder sees the same bytes
    return noncanonical


def _genuine_with_non_canonical(issuer: ForgedIssuer, which: int) -> str:
    """A genuine token (bounded retries) whose part ``which`` has unused bits, with
    those bits set: the bytes, and so the signature, still match."""
    for attempt in range(64):
        token = issuer.mint(roles=["admin"], jti=f"n{attempt}" + "x" * (attempt % 3))
        pieces = token.split(".")
        if len(pieces[which]) % 4 in (2, 3) and alphabet_last_bit_clear(pieces[which]):
            pieces[which] = _with_unused_bits(pieces[which])
            return ".".join(pieces)
    raise AssertionError("no token with unused bits in 64 tries")  # pragma: no cover


def alphabet_last_bit_clear(part: str) -> bool:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet.index(part[-1]) % 2 == 0


@pytest.mark.parametrize("which", [1, 2], ids=["payload", "signature"])
def test_non_canonical_base64url(client: FlaskClient, issuer: ForgedIssuer, which: int) -> None:
    """Two strings for one byte sequence: a cache or a denylist keyed on the string is
    bypassed. The signature still verifies over the lenient decoding, so only the
    canonical-form check refuses it."""
    token = _genuine_with_non_canonical(issuer, which)
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


def test_standard_base64_alphabet_in_the_signature(
    client: FlaskClient, issuer: ForgedIssuer
) -> None:
    """'+' and '/' are b64token characters (the header parser lets them through) but
    not base64url: the same bytes in standard base64 are refused."""
    for attempt in range(64):  # bounded: most RSA signatures contain '-' or '_'
        token = issuer.mint(roles=["admin"], jti=f"std{attempt}")
        if "-" in token.split(".")[2] or "_" in token.split(".")[2]:
            break
    head, body, signature = token.split(".")
    standard = signature.replace("-", "+").replace("_", "/")
    assert standard != signature
    response = client.delete(ADMIN_ONLY, headers=bearer(f"{head}.{body}.{standard}"))
    check_refusal(response, 401, "invalid_token", MALFORMED)


# -- header and payload bytes that are not strict JSON objects (genuinely signed) -------


def _payload_bytes(issuer: ForgedIssuer) -> bytes:
    return json.dumps(issuer.claims(roles=["admin"])).encode()


ODD_PAYLOADS: dict[str, Callable[[ForgedIssuer], bytes]] = {
    "utf8-bom": lambda issuer: b"\xef\xbb\xbf" + _payload_bytes(issuer),
    "utf16": lambda issuer: _payload_bytes(issuer).decode().encode("utf-16"),
    "latin1-not-utf8": lambda issuer: _payload_bytes(issuer)[:-1] + b', "n": "caf\xe9"}',
    "trailing-garbage": lambda issuer: _payload_bytes(issuer) + b" x",
    "two-objects": lambda issuer: _payload_bytes(issuer) + _payload_bytes(issuer),
    "array-of-claims": lambda issuer: b"[" + _payload_bytes(issuer) + b"]",
    "json-string": lambda issuer: json.dumps(_payload_bytes(issuer).decode()).encode(),
    "null": lambda issuer: b"null",
    "empty": lambda issuer: b"",
    "single-quotes": lambda issuer: _payload_bytes(issuer).replace(b'"', b"'"),
    "trailing-comma": lambda issuer: _payload_bytes(issuer)[:-1] + b",}",
    "comment": lambda issuer: b"/* admin */" + _payload_bytes(issuer),
}


@pytest.mark.parametrize("case", list(ODD_PAYLOADS))
def test_payload_that_is_not_a_strict_json_object(
    client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    token = issuer.sign(header, ODD_PAYLOADS[case](issuer))
    response = client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)


ODD_HEADERS: dict[str, Callable[[ForgedIssuer], bytes]] = {
    "utf8-bom": lambda issuer: b'\xef\xbb\xbf{"alg":"RS256","kid":"%s"}' % issuer.kid.encode(),
    "array": lambda issuer: b'[{"alg":"RS256","kid":"%s"}]' % issuer.kid.encode(),
    "duplicate-alg-none-last": lambda issuer: (
        b'{"alg":"RS256","kid":"%s","alg":"none"}' % issuer.kid.encode()
    ),
    "duplicate-alg-rs256-last": lambda issuer: (
        b'{"alg":"none","kid":"%s","alg":"RS256"}' % issuer.kid.encode()
    ),
    "duplicate-kid": lambda issuer: (
        b'{"alg":"RS256","kid":"other","kid":"%s"}' % issuer.kid.encode()
    ),
    "escaped-duplicate-alg": lambda issuer: (
        b'{"alg":"none","kid":"%s","\\u0061lg":"RS256"}' % issuer.kid.encode()
    ),
}


@pytest.mark.parametrize("case", list(ODD_HEADERS))
def test_header_that_is_not_a_strict_json_object(
    cold_client: FlaskClient, issuer: ForgedIssuer, case: str
) -> None:
    """Duplicate members are where two parsers disagree (first wins vs last wins)."""
    token = issuer.sign(ODD_HEADERS[case](issuer), issuer.claims(roles=["admin"]))
    response = cold_client.delete(ADMIN_ONLY, headers=bearer(token))
    check_refusal(response, 401, "invalid_token", MALFORMED)
