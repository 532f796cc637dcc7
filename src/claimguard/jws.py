"""A strict parser for compact JWS tokens (RFC 7515 §7.1).

Each token is parsed exactly once. The parser is stricter than the RFCs require, on
purpose: anything a second parser could read differently is refused.

* Three base64url parts, unpadded and canonical (RFC 7515 §2: "with all trailing '='
  characters omitted"; the unused bits of the last character must be zero, so that
  exactly one string encodes each byte sequence).
* Header and payload are UTF-8 JSON objects. Duplicate member names are refused
  (RFC 7515 §5.2 step 4 allows a parser to reject them; RFC 8725 §3.4 asks for it), and
  so are ``NaN``/``Infinity`` literals, which are not JSON at all.
* Five parts (a JWE, RFC 7516) and any other count are refused.

Nothing here checks a signature: see :mod:`claimguard.validation`.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import urlsafe_b64decode
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from typing import Any

from .errors import InvalidTokenError

__all__ = ["MAX_JSON_DEPTH", "ParsedToken", "parse_compact"]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
#: Deepest nesting of arrays and objects accepted. Real headers and claims nest a few
#: levels; a deeper document is refused before parsing, so neither ``json`` nor any
#: later walk over the claims can run out of stack on hostile input.
MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(r'["\[\]{}]')
_JSON_STRING_END = re.compile(r'["\\]')


@dataclass(frozen=True)
class ParsedToken:
    """The parts of a compact JWS, decoded but not yet verified."""

    header: dict[str, Any]
    payload: dict[str, Any]
    #: ``BASE64URL(header) || '.' || BASE64URL(payload)``: the bytes that were signed.
    signing_input: bytes
    signature: bytes


def _malformed(detail: str) -> InvalidTokenError:
    return InvalidTokenError("The access token is malformed.", detail=detail)


def b64url_decode(part: str, what: str) -> bytes:
    """Decode one canonical, unpadded base64url part or raise ``InvalidTokenError``."""
    if _BASE64URL.fullmatch(part) is None:
        raise _malformed(f"{what} is not unpadded base64url")
    if len(part) % 4 == 1:
        raise _malformed(f"{what} has an impossible base64url length")
    try:
        raw = urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - regex screened it
        raise _malformed(f"{what} is not base64url") from exc
    # Canonical form: non-zero padding bits would let two strings carry one value.
    if urlsafe_b64encode(raw).rstrip(b"=") != part.encode("ascii"):
        raise _malformed(f"{what} is not canonical base64url")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(text: str) -> bool:
    """Whether ``text`` nests arrays and objects deeper than :data:`MAX_JSON_DEPTH`.

    One linear scan (no backtracking regex: hostile input must not make it slow).
    Brackets inside strings do not nest, so strings are skipped.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False  # the common case costs two counts
    depth = 0
    position = 0
    while (found := _JSON_STRUCTURE.search(text, position)) is not None:
        position = found.end()
        char = found.group()
        if char == '"':
            while (end := _JSON_STRING_END.search(text, position)) is not None:
                position = end.end()
                if end.group() == '"':
                    break
                position += 1  # skip the escaped character
            else:
                return False  # unterminated string: the JSON parser refuses it
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        else:
            depth -= 1
    return False


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse strict JSON that must be an object (RFC 7515 §5.2, RFC 7519 §7.2)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"{what} is not UTF-8") from exc
    if _too_deep(text):
        raise _malformed(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
        )
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"{what} is not strict JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not a JSON object")
    return value


def parse_compact(token: str) -> ParsedToken:
    """Split and decode a compact JWS, refusing anything that is not strictly one.

    :raises InvalidTokenError: the token is not a well-formed compact JWS.
    """
    if not token.isascii():
        raise _malformed("token has non-ASCII characters")
    parts = token.split(".")
    if len(parts) == 5:
        raise _malformed("token is a JWE (5 parts): encrypted tokens are not accepted")
    if len(parts) != 3:
        raise _malformed(
            f"token has {len(parts)} dot-separated parts, not 3: "
            "not a JWT (an opaque access token? request it with an `audience`)"
        )
    header_b64, payload_b64, signature_b64 = parts
    if not header_b64 or not payload_b64:
        raise _malformed("token has an empty header or payload")
    if not signature_b64:
        raise _malformed("token has an empty signature (unsigned JWT)")
    header = parse_json_object(b64url_decode(header_b64, "header"), "header")
    payload = parse_json_object(b64url_decode(payload_b64, "payload"), "payload")
    signature = b64url_decode(signature_b64, "signature")
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return ParsedToken(header, payload, signing_input, signature)
