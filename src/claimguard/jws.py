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
import functools
import json
import re
import sys
from base64 import urlsafe_b64decode
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import NamedTuple

from .claims import freeze
from .errors import InvalidTokenError

__all__ = ["MAX_JSON_DEPTH", "ParsedToken", "parse_compact"]

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_ALPHABET_INDEX = {
    char: index
    for index, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# Unused low bits of the last character, by length % 4: 2 characters carry one byte
# (4 spare bits), 3 characters carry two bytes (2 spare bits).
_SPARE_BITS = {0: 0, 2: 0b1111, 3: 0b11}
#: Deepest nesting of arrays and objects accepted. Real headers and claims nest a few
#: levels; a deeper document is refused before parsing, so neither ``json`` nor any
#: later walk over the claims can run out of stack on hostile input.
MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(r'["\[\]{}]')
_JSON_STRING_END = re.compile(r'["\\]')


class ParsedToken(NamedTuple):
    """The parts of a compact JWS, decoded but not yet verified."""

    #: The protected header, deeply read-only.
    header: Mapping[str, Any]
    payload: dict[str, Any]
    #: ``BASE64URL(header) || '.' || BASE64URL(payload)``: the bytes that were signed.
    signing_input: bytes
    signature: bytes


def _malformed(detail: str, reason: str = "token.malformed") -> InvalidTokenError:
    return InvalidTokenError(reason=reason, detail=detail)


def b64url_decode(part: str, what: str) -> bytes:
    """Decode one canonical, unpadded base64url part or raise ``InvalidTokenError``."""
    if len(part) % 4 == 1:
        raise _malformed(f"{what} has an impossible base64url length")
    try:
        raw = _decode(part)
    except (binascii.Error, ValueError) as exc:
        raise _malformed(f"{what} is not unpadded base64url") from exc
    # Canonical form: the bits of the last character beyond the encoded bytes must be
    # zero (RFC 4648 §3.5), or two strings would carry one value.
    spare = _SPARE_BITS[len(part) % 4]
    if spare and _ALPHABET_INDEX[part[-1]] & spare:
        raise _malformed(f"{what} is not canonical base64url")
    return raw


def _decode_strict(part: str) -> bytes:
    # RFC 4648 §5 alphabet only. One translation maps "-" and "_" to the standard
    # alphabet and the standard alphabet's own "+" and "/", and any "=", to "*", which
    # strict_mode (in C) refuses along with everything else outside the alphabet.
    data = part.encode("ascii").translate(_TO_STANDARD) + _PADDING[len(part) % 4]
    return binascii.a2b_base64(data, strict_mode=True)  # type: ignore[call-arg,unused-ignore]


def _decode_checked(part: str) -> bytes:  # Python 3.10: no strict_mode
    if _BASE64URL.fullmatch(part) is None:
        raise ValueError("not unpadded base64url")
    return urlsafe_b64decode(part + "=" * (-len(part) % 4))


_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/***")
_PADDING = {0: b"", 2: b"==", 3: b"="}  # length % 4 == 1 is refused before decoding
_decode = _decode_strict if sys.version_info >= (3, 11) else _decode_checked


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads with hooks would build a new decoder for every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _decode_json(text: str) -> Any:
    """``_DECODER.decode(text)``, minus its two whitespace regexes in the usual case.

    The scanner (the same C scanner, with the same hooks) reads one value from the first
    character; when that value ends exactly at the end of the text, there is nothing
    else for ``decode`` to check. Anything else (leading or trailing whitespace, extra
    data, an error) goes through ``decode`` itself, which accepts or refuses it.
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return _DECODER.decode(text)
    if end != len(text):
        return _DECODER.decode(text)
    return value


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
        value = _decode_json(text)
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"{what} is not strict JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not a JSON object")
    return value


@functools.lru_cache(maxsize=256)
def parse_header(header_b64: str) -> Mapping[str, Any]:
    """Decode a protected header into a deeply read-only mapping.

    Every token an issuer signs with one key carries the same header bytes, so the
    result is memoised (bounded; failures are not cached): a stream of tokens pays for
    one header parse per key instead of one per token.
    """
    return freeze(parse_json_object(b64url_decode(header_b64, "header"), "header"))  # type: ignore[no-any-return]


def parse_compact(token: str) -> ParsedToken:
    """Split and decode a compact JWS, refusing anything that is not strictly one.

    :raises InvalidTokenError: the token is not a well-formed compact JWS.
    """
    if not token.isascii():
        raise _malformed("token has non-ASCII characters")
    parts = token.split(".")
    if len(parts) == 5:
        # RFC 7516 §7.1: five parts are a compact JWE. An API sees one when the front end
        # asked Auth0 for a token without naming an audience: Auth0 then issues an
        # encrypted token meant only for its own /userinfo endpoint.
        raise _malformed(
            "token is encrypted (a JWE, 5 parts), which an API cannot read: Auth0 issues "
            "encrypted access tokens when the client requested no audience; request the "
            "token with this API's identifier as its audience",
            reason="token.encrypted",
        )
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
    header = parse_header(header_b64)
    payload = parse_json_object(b64url_decode(payload_b64, "payload"), "payload")
    signature = b64url_decode(signature_b64, "signature")
    signing_input = token[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return _new_parsed(ParsedToken, (header, payload, signing_input, signature))


_new_parsed = tuple.__new__  # ParsedToken(...) without its Python-level __new__
