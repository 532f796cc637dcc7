"""Reading a request body as one JSON text, strictly, and never with a 500.

Werkzeug's ``request.get_json(silent=True)`` is too lenient for a public API, and not
silent enough: it lets ``RecursionError`` through (a 60 KB body of ``[[[[`` is enough),
guesses UTF-16 and UTF-32 from the first bytes, honours a ``charset`` parameter, and
accepts ``NaN``. Here the rules are those of RFC 8259, applied in order:

1. The media type is ``application/json`` (or ``application/*+json``), with no
   ``charset`` other than UTF-8 and no content coding: else 415.
2. The bytes are UTF-8 (RFC 8259 §8.1: JSON exchanged between systems MUST be UTF-8),
   with no byte order mark (§8.1: senders MUST NOT add one; we do not accept one).
3. The text is one JSON value: no ``NaN``/``Infinity`` (§6: not numbers in JSON), no
   object with the same name twice (§4: names SHOULD be unique, and which duplicate
   wins differs between parsers, so a proxy and this API could see different bodies),
   and nesting shallow enough for the parser (a too-deep text is refused, not a crash).

Every failure in 2-3 is ``400 {"error": "invalid_body", "fields": {"body": ...}}`` (or
the duplicated name instead of ``body``). The size limit (413) is Flask's
``MAX_CONTENT_LENGTH``, enforced while the body is read.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort
from flask import request

from .schema import InvalidBody
from .schema import echoable

#: The spellings of UTF-8 a ``charset`` parameter may carry (compared lower-cased).
_UTF8_CHARSETS = frozenset({"utf-8", "utf8"})
_IDENTITY = frozenset({"", "identity"})
_NOT_NUMBERS = "NaN and Infinity are not JSON numbers (RFC 8259 section 6)"


class _NotANumber(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in the text."""


class _DuplicateName(ValueError):
    """An object holds the same member name twice."""

    def __init__(self, name: str) -> None:
        super().__init__("duplicate name")
        self.name = name


def read_json_body() -> Any:
    """The request body as a JSON value. Call it only after authorization: a caller
    without the role learns nothing about how the body is checked.

    :raises werkzeug.exceptions.UnsupportedMediaType: not JSON, another charset or a
        content coding (415).
    :raises werkzeug.exceptions.RequestEntityTooLarge: over ``MAX_CONTENT_LENGTH`` (413).
    :raises InvalidBody: not UTF-8, a byte order mark, or not one strict JSON text.
    """
    _require_json_media_type()
    return parse_json(request.get_data(cache=False))


def _require_json_media_type() -> None:
    if not request.is_json:
        abort(415, description="Send the body as application/json.")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower() not in _UTF8_CHARSETS:
        # RFC 8259 §11 defines no charset parameter for application/json; JSON is UTF-8.
        abort(415, description="JSON is UTF-8: send no charset, or charset=utf-8.")
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in _IDENTITY:
        abort(415, description="Send the body without a content coding.")


def parse_json(data: bytes) -> Any:
    """One strict JSON text from ``data`` (the rules in the module docstring).

    :raises InvalidBody: naming ``body``, or the member name that appears twice.
    """
    try:
        text = data.decode("utf-8")  # strict: also refuses encoded surrogates
    except UnicodeDecodeError:
        raise InvalidBody({"body": "must be UTF-8 (RFC 8259 section 8.1)"}) from None
    if text.startswith("\ufeff"):
        raise InvalidBody({"body": "must not start with a byte order mark (RFC 8259 section 8.1)"})
    try:
        return json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_object_without_duplicates
        )
    except _NotANumber:
        raise InvalidBody({"body": _NOT_NUMBERS}) from None
    except _DuplicateName as duplicate:
        raise InvalidBody({echoable(duplicate.name): "appears more than once"}) from None
    except json.JSONDecodeError as error:
        # ``msg`` is one of the parser's fixed sentences: no byte of the body is echoed.
        raise InvalidBody(
            {"body": f"is not valid JSON: {error.msg} at character {error.pos}"}
        ) from None
    except RecursionError:
        raise InvalidBody({"body": "is nested too deeply"}) from None
    except ValueError:  # e.g. an integer over Python's 4300-digit conversion limit
        raise InvalidBody({"body": "is not valid JSON (RFC 8259)"}) from None


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(name)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise _DuplicateName(name)
        members[name] = value
    return members
