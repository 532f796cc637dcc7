"""Query-string parameters, read strictly: a malformed one is a 400 naming it.

A number in a URL is ASCII digits, nothing else. ``str.isdigit()`` and ``int()`` are
wider than that: ``"\u00b9".isdigit()`` (superscript one) is true but ``int()`` of it
fails, ``int()`` of Arabic-Indic (U+0661) or full-width (U+FF11) digits succeeds, and
``int()`` also takes signs, underscores and surrounding whitespace. So each parameter
must match ``[0-9]+`` exactly, be given at most once, and have a bounded number of
digits (``int()`` of a long digit string costs quadratic time, and Python refuses
over 4300 digits).

Every problem is reported at once: ``400 {"error": "invalid_query", "fields": {...}}``.
Unknown parameters are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from .schema import InvalidQuery

#: The longest number accepted: 18 digits stay below 2^63 (both databases' integers).
MAX_DIGITS = 18
_ASCII_DIGITS = re.compile(r"[0-9]+")


class BadParameter(Exception):
    """One parameter is malformed; the message is for the client (never its value)."""


@dataclass(frozen=True)
class IntParameter:
    """An optional non-negative integer parameter.

    ``low`` is the smallest value accepted; a value above ``high`` is lowered to it
    (a page size is capped, not refused)."""

    name: str
    default: int
    low: int = 0
    high: int | None = None

    def read(self, args: MultiDict[str, str]) -> int:
        """The parameter's value in ``args``, or its default when absent.

        :raises BadParameter: with the message for the client.
        """
        values = args.getlist(self.name)
        if not values:
            return self.default
        if len(values) > 1:
            raise BadParameter("must be given at most once")
        raw = values[0]
        if not _ASCII_DIGITS.fullmatch(raw):
            raise BadParameter("must be a non-negative integer in ASCII digits")
        if len(raw) > MAX_DIGITS:
            raise BadParameter(f"must have at most {MAX_DIGITS} digits")
        value = int(raw)
        if value < self.low:
            raise BadParameter(f"must be at least {self.low}")
        return value if self.high is None else min(value, self.high)


def read_ints(args: MultiDict[str, str], *parameters: IntParameter) -> list[int]:
    """Each parameter's value, in order.

    :raises InvalidQuery: one message per malformed parameter.
    """
    values: list[int] = []
    errors: dict[str, str] = {}
    for parameter in parameters:
        try:
            values.append(parameter.read(args))
        except BadParameter as error:
            errors[parameter.name] = str(error)
    if errors:
        raise InvalidQuery(errors)
    return values
