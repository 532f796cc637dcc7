"""Validation of product bodies: every problem is reported per field, all at once."""

from __future__ import annotations

from typing import Any

MAX_NAME = 200
MAX_DESCRIPTION = 2000
#: SQLite stores prices as 8-byte floats; larger values cannot be bound.
MAX_PRICE = 1e15
FIELDS = ("name", "price", "description", "stock")
REQUIRED = ("name", "price")


class InvalidBody(Exception):
    """The body failed validation; ``fields`` maps each field to what is wrong."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid body")
        self.fields = fields


def _name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    return None


def _price(value: Any) -> str | None:
    # JSON numbers only: a boolean is not a price, and NaN/Infinity are not numbers.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    # A comparison, not math.isfinite: a 400-digit JSON integer would overflow it.
    if not 0 <= value <= MAX_PRICE:
        return f"must be a finite number between 0 and {MAX_PRICE:g}"
    return None


def _description(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        return "must be a string or null"
    if isinstance(value, str) and len(value) > MAX_DESCRIPTION:
        return f"must be at most {MAX_DESCRIPTION} characters"
    return None


def _stock(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if value < 0 or value > 2**53:
        return "must be an integer between 0 and 2^53"
    return None


_CHECKS = {"name": _name, "price": _price, "description": _description, "stock": _stock}


def validate_product(body: Any, *, partial: bool = False) -> dict[str, Any]:
    """Return the validated fields of a product body.

    :param partial: a PATCH: every field is optional, but at least one is needed.
        Otherwise (POST, PUT) ``name`` and ``price`` are required and the optional
        fields take their defaults.
    :raises InvalidBody: with one message per bad field.
    """
    if not isinstance(body, dict):
        raise InvalidBody({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    for name in body:
        if name not in _CHECKS:
            errors[str(name)[:50]] = "unknown field"
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
