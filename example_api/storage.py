"""Products in SQLite: safe for several gunicorn workers writing at once.

WAL mode lets readers proceed while one writer commits; a busy timeout makes a writer
wait for the lock instead of failing; and every write runs in ``BEGIN IMMEDIATE``, so
a transaction takes the write lock up front and never has to upgrade (the upgrade is
where two writers deadlock and one gets ``SQLITE_BUSY`` at once).
"""

from __future__ import annotations

import os
import sqlite3
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
    updated_at  TEXT    NOT NULL
)
"""
BUSY_TIMEOUT_MS = 10_000
_COLUMNS = ("id", "name", "price", "description", "stock", "created_at", "updated_at")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else {column: row[column] for column in _COLUMNS}


class ProductStore:
    """Product rows in one SQLite file. Open one connection per request."""

    def __init__(self, path: str) -> None:
        self.path = path

    def initialise(self) -> None:
        """Create the folder, the schema and switch the file to WAL (idempotent)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        with self.connect() as connection:
            # WAL is a property of the file: set once, it persists across restarts.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)

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
            row = connection.execute("SELECT * FROM products WHERE id = ?", (product_id,))
            return _row(row.fetchone())

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
            row = connection.execute("SELECT * FROM products WHERE id = ?", (cursor.lastrowid,))
            created = _row(row.fetchone())
        assert created is not None
        return created

    def update(self, product_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Set ``fields`` on a product; ``None`` when it does not exist."""
        assignments = ", ".join(f"{name} = ?" for name in fields)  # names are validated
        with self._write() as connection:
            cursor = connection.execute(
                f"UPDATE products SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608
                (*fields.values(), _now(), product_id),
            )
            if cursor.rowcount == 0:
                return None
            row = connection.execute("SELECT * FROM products WHERE id = ?", (product_id,))
            return _row(row.fetchone())

    def delete(self, product_id: int) -> bool:
        with self._write() as connection:
            cursor = connection.execute("DELETE FROM products WHERE id = ?", (product_id,))
            return cursor.rowcount > 0
