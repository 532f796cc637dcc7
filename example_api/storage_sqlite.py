"""Products in SQLite: safe for several gunicorn workers writing at once.

WAL mode lets readers proceed while one writer commits; a busy timeout makes a writer
wait for the lock instead of failing; and every write runs in ``BEGIN IMMEDIATE``, so
a transaction takes the write lock up front and never has to upgrade (the upgrade is
where two writers deadlock and one gets ``SQLITE_BUSY`` at once).

A conditional write checks the caller's precondition and writes in the same ``BEGIN
IMMEDIATE`` transaction, and its ``UPDATE``/``DELETE`` also names the version it
checked (``WHERE id = ? AND version = ?``). The rules both backends keep are in
:mod:`example_api.storage`.

One connection per call: opening a SQLite file costs microseconds, and a connection
never crosses a thread or a fork.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from typing import Any

from .storage import COLUMNS
from .storage import MAX_ID
from .storage import SCHEMA_VERSION
from .storage import Precondition
from .storage import PreconditionFailed
from .storage import SchemaTooNew
from .storage import constraint_refusal
from .storage import now
from .storage import storable
from .storage import timestamp_text
from .storage import writable_columns

# ``AUTOINCREMENT``: ids are never reused, even after the newest row is deleted (a
# plain INTEGER PRIMARY KEY would hand its id out again, and an ETag "<id>.<version>"
# of the deleted product would match the new one).
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
#: One row (``id`` is always 1): the version of the schema in this file.
SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)
"""
#: Brings a database made before rows had a version up to date (``make demo`` reuses
#: its file). Existing rows start at version 1. Such a file has no schema_version
#: either: it was version 1 in all but name.
ADD_VERSION = "ALTER TABLE products ADD COLUMN version INTEGER NOT NULL DEFAULT 1"
BUSY_TIMEOUT_MS = 10_000
#: Seconds between two attempts to switch a new file to WAL (see ``_use_wal``).
WAL_RETRY_PAUSE = 0.01


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return None if row is None else {column: row[column] for column in COLUMNS}


class SQLiteProductStore:
    """Product rows in one SQLite file. Open one connection per call."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"SQLiteProductStore({self.path!r})"

    def initialise(self) -> None:
        """Create the folder, the schema and switch the file to WAL (idempotent).

        Every gunicorn worker runs this as it starts: the checks and the changes share
        one write transaction, so only the first worker migrates.

        :raises SchemaTooNew: the file was made by a newer release (nothing changed).
        """
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._use_wal()
        with self._write() as connection:
            connection.execute(SCHEMA_VERSION_TABLE)
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            if row is not None and row["version"] > SCHEMA_VERSION:
                raise SchemaTooNew(row["version"])  # rolled back: the file is untouched
            connection.execute(SCHEMA)
            columns = {row["name"] for row in connection.execute("PRAGMA table_info(products)")}
            if "version" not in columns:
                connection.execute(ADD_VERSION)
            # Later schema changes go here, each run when row["version"] is below its
            # number, before the version is raised below.
            connection.execute(
                "INSERT INTO schema_version (id, version) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (SCHEMA_VERSION,),
            )

    def _use_wal(self) -> None:
        """Switch the file to WAL; it is a property of the file, kept across restarts.

        Workers starting together on a new file can get ``database is locked`` here at
        once: changing the journal mode needs the file to themselves, and SQLite does
        not always wait out the busy timeout for it. So the switch is retried, for at
        most that timeout.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with self.connect() as connection:
                    connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(WAL_RETRY_PAUSE)

    def schema_version(self) -> int | None:
        """The version recorded in the file (``None`` before :meth:`initialise`)."""
        with self.connect() as connection:
            try:
                row = connection.execute("SELECT version FROM schema_version").fetchone()
            except sqlite3.OperationalError:  # no such table
                return None
        return None if row is None else int(row["version"])

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""

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
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self.connect() as connection:
            connection.execute(begin)
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._transaction("BEGIN IMMEDIATE")

    def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        # A deferred transaction: in WAL mode both reads see one snapshot, so the total
        # counts the same rows the page was cut from.
        with self._transaction("BEGIN") as connection:
            rows = connection.execute(
                "SELECT * FROM products ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
            total = connection.execute("SELECT COUNT(*) FROM products").fetchone()[0]
        return [_row(row) for row in rows if row is not None], int(total)  # type: ignore[misc]

    def get(self, product_id: int) -> dict[str, Any] | None:
        with self.connect() as connection:
            return _fetch(connection, product_id)

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        fields = storable(fields)
        stamp = timestamp_text(now())
        with self._write() as connection:
            cursor = _refusing_constraints(
                connection,
                "INSERT INTO products (name, price, description, stock, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    fields.get("name"),
                    fields.get("price"),
                    fields.get("description"),
                    fields.get("stock", 0),
                    stamp,
                    stamp,
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
        fields = storable(fields)
        assignments = ", ".join(f"{name} = ?" for name in writable_columns(fields))
        with self._write() as connection:
            current = _checked(connection, product_id, precondition)
            if current is None:
                return None
            cursor = _refusing_constraints(
                connection,
                f"UPDATE products SET {assignments}, updated_at = ?, version = version + 1"  # noqa: S608
                " WHERE id = ? AND version = ?",
                (*fields.values(), timestamp_text(now()), product_id, current["version"]),
            )
            # Cannot fail while this transaction holds the write lock; checked anyway,
            # since a lost update is the one thing this must never allow.
            if cursor.rowcount != 1:
                raise PreconditionFailed
            return _fetch(connection, product_id)

    def delete(self, product_id: int, precondition: Precondition | None = None) -> bool:
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


def _refusing_constraints(
    connection: sqlite3.Connection, statement: str, parameters: tuple[Any, ...]
) -> sqlite3.Cursor:
    """Run a write; a CHECK or NOT NULL constraint failure is a 400 naming the field
    (the transaction is rolled back by the caller's context)."""
    try:
        return connection.execute(statement, parameters)
    except sqlite3.IntegrityError as error:
        message = str(error)
        raise constraint_refusal(message, not_null=message.startswith("NOT NULL")) from None


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
