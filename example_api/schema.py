"""Validation of product bodies: every problem is reported per field, all at once.

Text rules (what a product's strings may hold):

* ``name`` and ``description`` must be Unicode *scalar* text: no lone surrogate
  (U+D800-U+DFFF alone). A JSON text may spell one as ``"\\udc80"`` (RFC 8259 §8.2
  calls such strings ill-formed), Python decodes it into a ``str`` that UTF-8 cannot
  encode, and neither database could store it.
* ``name`` is a one-line label: no control character at all (C0, DEL, C1), no line or
  paragraph separator, and no bidirectional embedding, override or isolate control,
  which can make a name display as something other than what it holds.
* ``description`` is free text: tab, line feed and carriage return are allowed, every
  other C0 control (NUL first of all) and DEL are refused.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

MAX_NAME = 200
MAX_DESCRIPTION = 2000
#: Both databases store prices as 8-byte floats (SQLite REAL, PostgreSQL double
#: precision); this bound keeps them exact to the cent.
MAX_PRICE = 1e15
FIELDS = ("name", "price", "description", "stock")
REQUIRED = ("name", "price")
#: Field names echoed back in an error answer are cut to this many characters.
MAX_ECHOED_NAME = 50
#: At most this many unknown fields are listed in one answer.
MAX_REPORTED_UNKNOWN = 10

#: Bidirectional controls (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories a name may not hold: controls, line and paragraph separators.
_LABEL_REFUSED = frozenset({"Cc", "Zl", "Zp"})
#: The controls a description may hold: tab, line feed, carriage return.
_TEXT_CONTROLS = frozenset("\t\n\r")


class InvalidInput(Exception):
    """A request part failed validation; ``fields`` maps each field to what is wrong.

    Answered ``400 {"error": <error>, "fields": {...}}`` (see :mod:`example_api.errors`).
    """

    error = "invalid_input"

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(self.error)
        self.fields = fields


class InvalidBody(InvalidInput):
    """The request body is not a valid product (or not a JSON text at all)."""

    error = "invalid_body"


class InvalidQuery(InvalidInput):
    """A query-string parameter is malformed."""

    error = "invalid_query"


class InvalidHeader(InvalidInput):
    """A request header field is malformed (e.g. ``If-Match``)."""

    error = "invalid_header"


def echoable(name: object) -> str:
    """``name`` made safe to echo in a JSON answer: cut to :data:`MAX_ECHOED_NAME`
    characters, every non-printable character (controls, lone surrogates, format
    characters) replaced by U+FFFD."""
    text = str(name)[:MAX_ECHOED_NAME]
    return "".join(char if char.isprintable() else "\ufffd" for char in text)


def _has_surrogate(value: str) -> bool:
    return any(unicodedata.category(char) == "Cs" for char in value)


def _name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if _has_surrogate(value):
        return "must be valid Unicode text (no lone surrogate)"
    for char in value:
        if unicodedata.category(char) in _LABEL_REFUSED or char in _BIDI_CONTROLS:
            return "must not contain control characters or line breaks"
    return None


def _price(value: Any) -> str | None:
    # JSON numbers only: a boolean is not a price, and NaN/Infinity are not numbers.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    # ``1e400`` in a JSON text becomes ``inf`` in Python. Integers are compared, never
    # converted: a 400-digit JSON integer would overflow a float.
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number between 0 and {MAX_PRICE:g}"
    if not 0 <= value <= MAX_PRICE:
        return f"must be a finite number between 0 and {MAX_PRICE:g}"
    return None


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be a string or null"
    if len(value) > MAX_DESCRIPTION:
        return f"must be at most {MAX_DESCRIPTION} characters"
    if _has_surrogate(value):
        return "must be valid Unicode text (no lone surrogate)"
    for char in value:
        if (char < " " or char == "\x7f") and char not in _TEXT_CONTROLS:
            return "must not contain control characters other than tab and line breaks"
    return None


def _stock(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if value < 0 or value > 2**53:
        return "must be an integer between 0 and 2^53"
    return None


_CHECKS = {"name": _name, "price": _price, "description": _description, "stock": _stock}


def _unknown_fields(body: dict[str, Any]) -> dict[str, str]:
    """One ``"unknown field"`` entry per unknown name, at most
    :data:`MAX_REPORTED_UNKNOWN` of them (a 64 KB body can hold thousands)."""
    unknown = [name for name in body if name not in _CHECKS]
    errors = {echoable(name): "unknown field" for name in unknown[:MAX_REPORTED_UNKNOWN]}
    if len(unknown) > MAX_REPORTED_UNKNOWN:
        errors["body"] = f"has {len(unknown)} unknown fields"
    return errors


def validate_product(body: Any, *, partial: bool = False) -> dict[str, Any]:
    """Return the validated fields of a product body.

    :param partial: a PATCH: every field is optional, but at least one is needed.
        Otherwise (POST, PUT) ``name`` and ``price`` are required and the optional
        fields take their defaults.
    :raises InvalidBody: with one message per bad field.
    """
    if not isinstance(body, dict):
        raise InvalidBody({"body": "must be a JSON object"})
    errors = _unknown_fields(body)
    if not partial:
        for name in REQUIRED:
            if name not in body:
                errors[name] = "is required"
    elif not any(name in body for name in FIELDS):
        errors["body"] = f"must set at least one of {', '.join(FIELDS)}"
    for name, check in _CHECKS.items():
        if name in body:
            problem = check(body[name])
            if problem is not None:
                errors[name] = problem
    if errors:
        raise InvalidBody(errors)
    fields = {name: body[name] for name in FIELDS if name in body}
    if isinstance(fields.get("name"), str):
        fields["name"] = fields["name"].strip()
    if not partial:
        fields.setdefault("description", None)
        fields.setdefault("stock", 0)
    return fields
