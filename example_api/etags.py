"""Entity tags for products, and the ``If-Match`` precondition (RFC 9110 §8.8.3, §13.1.1).

**The ETag.** Each product row has a ``version``: 1 when created, plus 1 on every
update (see :mod:`example_api.storage`). A product's ETag is ``"<id>.<version>"``, a
*strong* validator (RFC 9110 §8.8.1): every change to the row changes it. The id is part
of it so that a tag copied from one product never matches another. Ids are never
reused (SQLite ``AUTOINCREMENT``, a PostgreSQL identity column), so an id and a
version name one state of one product.
The tag is built from two integers only: no byte a client sent ever reaches the header.

**If-Match** (RFC 9110 §13.1.1) turns a write into "only if the product is still the
one I read", which prevents lost updates: two editors who read version 3 cannot both
write, the second gets 412. The field value is either ``*`` (any current
representation: the product exists) or a comma-separated list of entity tags.

Parsing rules, from the ABNF of RFC 9110 (§8.8.3 ``entity-tag``, §5.6.1 lists):

* a tag is ``"…"`` or ``W/"…"``, its characters ``%x21 / %x23-7E / %x80-FF`` (no
  space, no ``"``, no control); a comma inside the quotes is part of the tag;
* elements are separated by commas with optional spaces or tabs around them; empty
  elements are ignored (§5.6.1), so a value of only commas is an empty list, which no
  tag matches: 412;
* several ``If-Match`` lines are one list (RFC 9110 §5.3);
* ``*`` stands alone; anything else (an unquoted word, ``*`` inside a list, a missing
  quote) is malformed: 400 ``invalid_header`` naming ``If-Match``. A malformed
  precondition never lets the write through.

Comparison is *strong* (RFC 9110 §8.8.3.2, required for If-Match by §13.1.1): a weak tag
``W/"…"`` is well-formed but never matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .schema import InvalidHeader

IF_MATCH = "If-Match"

# One list element and the comma (or end) after it. Group 1: "W/" for a weak tag;
# group 2: the opaque tag's characters. Header values reach WSGI as latin-1 strings,
# so obs-text (%x80-FF) is U+0080-U+00FF here. The trailing whitespace sits inside the
# optional group: two adjacent ``[ \t]*`` would make a failing match quadratic.
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*)?(?:,|\Z)')
_MALFORMED = 'must be * or a comma-separated list of entity tags such as "12.3"'


def etag(product_id: int, version: int) -> str:
    """The strong ETag of one version of one product, quotes included."""
    return f'"{int(product_id)}.{int(version)}"'


@dataclass(frozen=True)
class IfMatch:
    """A parsed ``If-Match`` field: ``*``, or the strong tags it lists.

    ``strong`` holds the opaque tags (without quotes) of the non-weak elements; weak
    elements are dropped, since they can never match under strong comparison.
    """

    any: bool
    strong: frozenset[str]

    def matches(self, current: str) -> bool:
        """Whether the condition holds for a product whose ETag is ``current``
        (RFC 9110 §13.1.1). Only call it for a product that exists: without a current
        representation the condition is false, but the answer is then 404 anyway
        (RFC 9110 §13.2.1: a 4xx found before the precondition takes precedence)."""
        return self.any or current.strip('"') in self.strong


def parse_if_match(values: Iterable[str]) -> IfMatch | None:
    """The ``If-Match`` condition of a request, ``None`` without the field.

    :param values: each ``If-Match`` field line received, in order.
    :raises InvalidHeader: a malformed field value.
    """
    lines = list(values)
    if not lines:
        return None
    value = ", ".join(lines)
    if value.strip(" \t") == "*":
        return IfMatch(any=True, strong=frozenset())
    return IfMatch(any=False, strong=frozenset(_strong_tags(value)))


def _strong_tags(value: str) -> list[str]:
    tags: list[str] = []
    position = 0
    while position < len(value):
        match = _ELEMENT.match(value, position)
        if match is None:
            raise InvalidHeader({IF_MATCH: _MALFORMED})
        weak, opaque = match.groups()
        if opaque is not None and weak is None:
            tags.append(opaque)
        position = match.end()  # > position: each match ends at a comma or the end
    return tags
