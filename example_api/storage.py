"""Where products are kept: one interface, two backends, the same answers from both.

``EXAMPLE_API_DATABASE`` picks the backend (:func:`open_store`):

* a file path: SQLite (:mod:`example_api.storage_sqlite`), the embedded default, made
  safe for several gunicorn workers by WAL mode and ``BEGIN IMMEDIATE``;
* a ``postgresql://`` (or ``postgres://``) URL: PostgreSQL
  (:mod:`example_api.storage_postgres`), through a connection pool per process.

The rest of example_api sees only :class:`ProductStore`. What both backends guarantee:

* **Rows.** A product is a dict with :data:`COLUMNS`, in that order. Ids start at 1,
  grow, are never reused and stay below :data:`MAX_ID` (2**63 - 1, the largest 64-bit
  integer of both databases). Prices are 8-byte floats (``-0.0`` stored as ``0.0``),
  stocks integers, timestamps strings such as ``2026-01-31T12:00:00.000Z`` (UTC,
  milliseconds).
* **Versions.** ``version`` is 1 when a row is created, plus 1 on every update; it is
  what the product's ETag is made of (:mod:`example_api.etags`). A conditional write
  checks the caller's precondition and writes in *one* transaction that holds the row,
  and its ``UPDATE``/``DELETE`` also names the version it checked (``WHERE id = ? AND
  version = ?``): two editors holding the same ETag can never both succeed.
* **Refusals.** A value the database cannot hold (a NUL character, a lone surrogate, an
  integer beyond 64 bits, a non-finite float) and a row its constraints refuse (a
  negative price or stock, a missing name) are :class:`~example_api.schema.InvalidBody`
  naming the field: a 400, never a 500, whichever backend is behind. The request
  validation (:mod:`example_api.schema`) refuses all of these first; this is the same
  rule again where the data is written, so that no other caller can get past it.
* **Pages.** :meth:`ProductStore.list` reads a page and the total from one snapshot.
* **Schema version.** Each database records the version of its schema in a one-row
  ``schema_version`` table (:data:`SCHEMA_VERSION` for the current schema), created by
  :meth:`ProductStore.initialise`. A database made by a newer release is refused at
  start-up (:class:`SchemaTooNew`) rather than written to with the wrong idea of its
  tables; the next schema change adds its step where that version is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from datetime import timezone
from typing import Any
from typing import Protocol

from .schema import InvalidBody

__all__ = [
    "COLUMNS",
    "MAX_ID",
    "SCHEMA_VERSION",
    "Precondition",
    "PreconditionFailed",
    "ProductStore",
    "SchemaTooNew",
    "is_postgres_url",
    "open_store",
]

#: The largest integer of both SQLite and PostgreSQL (``bigint``): no id is larger.
MAX_ID = 2**63 - 1
MIN_INTEGER = -(2**63)
#: The version of the schema this code reads and writes; the ``schema_version`` table
#: holds the version of each database.
SCHEMA_VERSION = 1
#: A row's columns, in the order of a product's JSON answer.
COLUMNS = ("id", "name", "price", "description", "stock", "created_at", "updated_at", "version")
#: The columns a caller may set. Update statements name columns from the caller's
#: fields, so each name is checked against this list before it reaches any SQL.
WRITABLE = ("name", "price", "description", "stock")
#: The schemes of a PostgreSQL URL (libpq accepts both spellings).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")

#: A caller's condition on the current row (e.g. an ``If-Match`` check).
Precondition = Callable[[dict[str, Any]], bool]


class PreconditionFailed(Exception):
    """The product exists but no longer satisfies the caller's precondition."""


class SchemaTooNew(RuntimeError):
    """The database's schema is newer than this code knows: a newer release made it.

    Raised by :meth:`ProductStore.initialise`, so the app stops at start-up instead of
    running against tables it does not understand."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the products database has schema version {found}, but this example_api "
            f"knows versions up to {SCHEMA_VERSION}: run the release that created it, "
            "or point EXAMPLE_API_DATABASE at another database"
        )
        self.found = found


class ProductStore(Protocol):
    """What the routes need from a database. Every method is safe to call from several
    threads and processes at once."""

    def initialise(self) -> None:
        """Create the tables, or check and bring up to date those already there
        (idempotent; every worker runs it as it starts, concurrently).

        :raises SchemaTooNew: the database was made by a newer release.
        """

    def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """A page of products by id, and how many products there are in all."""

    def get(self, product_id: int) -> dict[str, Any] | None:
        """One product, ``None`` when no product has this id (any int is accepted)."""

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Add a product at version 1; the new row.

        :raises InvalidBody: a value the database cannot hold or refuses.
        """

    def update(
        self,
        product_id: int,
        fields: dict[str, Any],
        precondition: Precondition | None = None,
    ) -> dict[str, Any] | None:
        """Set ``fields`` on a product and add 1 to its version; the updated row, or
        ``None`` when it does not exist.

        :raises PreconditionFailed: ``precondition`` is false for the current row
            (nothing is written).
        :raises InvalidBody: a value the database cannot hold or refuses.
        """

    def delete(self, product_id: int, precondition: Precondition | None = None) -> bool:
        """Delete a product; whether it existed.

        :raises PreconditionFailed: ``precondition`` is false for the current row.
        """

    def close(self) -> None:
        """Release the connections this process holds (a no-op for SQLite)."""


def is_postgres_url(target: str) -> bool:
    """Whether ``EXAMPLE_API_DATABASE`` names a PostgreSQL database."""
    return target.strip().lower().startswith(POSTGRES_SCHEMES)


def open_store(target: str, *, pool_max: int = 5) -> ProductStore:
    """The store for ``EXAMPLE_API_DATABASE``: a ``postgresql://`` URL or a SQLite path.

    Nothing is connected yet: call :meth:`ProductStore.initialise`. The PostgreSQL
    backend is imported only here, so SQLite needs no psycopg.

    :param pool_max: PostgreSQL only: the most connections each process keeps.
    :raises ValueError: another URL scheme (``mysql://…``): refused rather than taken
        for a file name.
    """
    if is_postgres_url(target):
        from .storage_postgres import PostgresProductStore

        return PostgresProductStore(target.strip(), pool_max=pool_max)
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise ValueError(
            f"EXAMPLE_API_DATABASE: {scheme!r} URLs are not supported; give a SQLite "
            "file path or a postgresql:// URL"
        )
    from .storage_sqlite import SQLiteProductStore

    return SQLiteProductStore(target)


# -- what both backends share ---------------------------------------------------------


def now() -> datetime:
    """The current UTC time, cut to milliseconds: what both backends store and give
    back, so a timestamp reads the same whichever keeps it."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def timestamp_text(moment: datetime) -> str:
    """``2026-01-31T12:00:00.000Z``: a stored time as products show it."""
    utc = moment.astimezone(timezone.utc)
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def writable_columns(fields: Mapping[str, Any]) -> list[str]:
    """The column names of ``fields``, each checked against :data:`WRITABLE` (they are
    put into the SQL text of an update)."""
    unknown = [name for name in fields if name not in WRITABLE]
    if unknown:
        raise ValueError(f"not product columns: {unknown!r}")
    return list(fields)


def storable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` as both backends store them alike, or the 400 for what one cannot hold.

    PostgreSQL ``text`` cannot hold NUL (psycopg raises ``DataError``) where SQLite
    stores it; neither can encode a lone surrogate to UTF-8 (``UnicodeEncodeError``);
    an integer beyond 64 bits overflows both, differently. Checked here, before any
    SQL, each is the same 400. And a float ``-0.0`` becomes ``0.0``: SQLite stores the
    zero without its sign where PostgreSQL keeps it, so the same price would read back
    (and show in JSON) differently.

    :raises InvalidBody: naming every such field.
    """
    problems: dict[str, str] = {}
    prepared = dict(fields)
    for name, value in fields.items():
        if isinstance(value, str):
            if "\x00" in value:
                problems[name] = "must not contain NUL characters"
            elif any("\ud800" <= char <= "\udfff" for char in value):
                problems[name] = "must be valid Unicode text (no lone surrogate)"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not MIN_INTEGER <= value <= MAX_ID:
            problems[name] = "is out of range"
        elif isinstance(value, float):
            if not math.isfinite(value):
                problems[name] = "must be a finite number"
            prepared[name] = value + 0.0  # -0.0 + 0.0 is 0.0; every other float unchanged
    if problems:
        raise InvalidBody(problems)
    return prepared


def constraint_refusal(message: str, *, not_null: bool) -> InvalidBody:
    """The 400 for a row a constraint refused, naming the column the database names.

    ``message`` is what the database said (SQLite: ``CHECK constraint failed: price >=
    0``, ``NOT NULL constraint failed: products.name``) or the name of the violated
    constraint or column (PostgreSQL: ``products_price_check``, ``name``): both name
    the column, which is all that is read from it.
    """
    field = next((name for name in WRITABLE if name in message), "body")
    return InvalidBody({field: "is required" if not_null else "must not be negative"})
