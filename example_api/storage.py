"""Products in SQLite: safe for several gunicorn workers writing at once.

WAL mode lets readers proceed while one writer commits; a busy timeout makes a writer
wait for the lock instead of failing; and every write runs in ``BEGIN IMMEDIATE``, so
a transaction takes the write lock up front and never has to upgrade (the upgrade is
where two writers deadlock and one gets ``SQLITE_BUSY`` at once).

Each row has a ``version``: 1 when created, plus 1 on every update. It is what the
product's ETag is made of (:mod:`example_api.etags`). A conditional write checks the
caller's precondition and writes in the same ``BEGIN IMMEDIATE`` transaction, and its
``UPDATE``/``DELETE`` also names the version it checked (``WHERE id = ? AND version =
?``): two editors holding the same ETag can never both succeed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import timezone
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    price       REAL    NOT NULL CHECK (price >= 0),
    description TEXT,
    stock       INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
)
"""
#: Brings a database made before rows had a version up to date (``make demo`` reuses
#: its file). Existing rows start at version 1.
ADD_VERSION = "ALTER TABLE products ADD COLUMN version INTEGER NOT NULL DEFAULT 1"
BUSY_TIMEOUT_MS = 10_000
#: SQLite's largest integer: no row can have a larger id.
MAX_ID = 2**63 - 1
_COLUMNS = (
    "id",
    "name",
    "price",
    "description",
    "stock",
    "created_at",
    "updated_at",
    "version",
)

#: A caller's condition on the current row (e.g. an ``If-Match`` check).
Precondition = Callable[[dict[str, Any]], bool]


class PreconditionFailed(Exception):
    """The product exists but no longer satisfies the caller's precondition."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else {column: row[column] for column in _COLUMNS}


class ProductStore:
    """Product rows in one SQLite file. Open one connection per request."""

    def __init__(self, path: str) -> None:
        self.path = path

    def initialise(self) -> None:
        """Create the folder, the schema and switch the file to WAL (idempotent).

        An existing table without ``version`` gains the column. Every gunicorn worker
        runs this as it starts: the check and the ``ALTER TABLE`` share one write
        transaction, so only the first worker migrates.
        """
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        with self.connect() as connection:
            # WAL is a property of the file: set once, it persists across restarts.
            connection.execute("PRAGMA journal_mode=WAL")
        with self._write() as connection:
            connection.execute(SCHEMA)
            columns = {row["name"] for row in connection.execute("PRAGMA table_info(products)")}
            if "version" not in columns:
                connection.execute(ADD_VERSION)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        try:
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA foreign_keys=ON")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        with self.connect() as connection:
            rows = connection.execute(
                "SELECT * FROM products ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
            total = connection.execute("SELECT COUNT(*) FROM products").fetchone()[0]
        return [_row(row) for row in rows if row is not None], int(total)  # type: ignore[misc]

    def get(self, product_id: int) -> dict[str, Any] | None:
        with self.connect() as connection:
            return _fetch(connection, product_id)

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        with self._write() as connection:
            cursor = connection.execute(
                "INSERT INTO products (name, price, description, stock, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    fields["name"],
                    fields["price"],
                    fields.get("description"),
                    fields.get("stock", 0),
                    now,
                    now,
                ),
            )
            assert cursor.lastrowid is not None
            created = _fetch(connection, cursor.lastrowid)
        assert created is not None
        return created

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
        """
        assignments = ", ".join(f"{name} = ?" for name in fields)  # names are validated
        with self._write() as connection:
            current = _checked(connection, product_id, precondition)
            if current is None:
                return None
            cursor = connection.execute(
                f"UPDATE products SET {assignments}, updated_at = ?, version = version + 1"  # noqa: S608
                " WHERE id = ? AND version = ?",
                (*fields.values(), _now(), product_id, current["version"]),
            )
            # Cannot fail while this transaction holds the write lock; checked anyway,
            # since a lost update is the one thing this must never allow.
            if cursor.rowcount != 1:
                raise PreconditionFailed
            return _fetch(connection, product_id)

    def delete(self, product_id: int, precondition: Precondition | None = None) -> bool:
        """Delete a product; whether it existed.

        :raises PreconditionFailed: ``precondition`` is false for the current row.
        """
        with self._write() as connection:
            current = _checked(connection, product_id, precondition)
            if current is None:
                return False
            cursor = connection.execute(
                "DELETE FROM products WHERE id = ? AND version = ?",
                (product_id, current["version"]),
            )
            if cursor.rowcount != 1:
                raise PreconditionFailed
            return True


def _fetch(connection: sqlite3.Connection, product_id: int) -> dict[str, Any] | None:
    """The row of ``product_id``; ``None`` if there is none, or if the id is outside
    SQLite's integers (which cannot even be bound as a parameter)."""
    if not 0 <= product_id <= MAX_ID:
        return None
    row = connection.execute("SELECT * FROM products WHERE id = ?", (product_id,))
    return _row(row.fetchone())


def _checked(
    connection: sqlite3.Connection, product_id: int, precondition: Precondition | None
) -> dict[str, Any] | None:
    """The current row (``None`` if missing), once ``precondition`` holds for it."""
    current = _fetch(connection, product_id)
    if current is not None and precondition is not None and not precondition(current):
        raise PreconditionFailed
    return current
