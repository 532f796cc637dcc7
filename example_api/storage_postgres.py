"""Products in PostgreSQL, through psycopg 3 and one connection pool per process.

The rules both backends keep are in :mod:`example_api.storage`; how this one keeps them:

* **Ids.** ``bigint GENERATED ALWAYS AS IDENTITY``: a sequence, never reused (like
  SQLite's ``AUTOINCREMENT``), and no caller can choose one.
* **Conditional writes.** ``SELECT … FOR UPDATE`` locks the row for the rest of the
  transaction; the precondition is checked on that row, then ``UPDATE``/``DELETE …
  WHERE id = %s AND version = %s``. A second editor's ``FOR UPDATE`` waits for the first
  to commit and then reads the new version, so its precondition fails (412). Without
  the lock, an unconditional write racing another would find the version moved under it
  and fail with a 412 it never asked for.
* **Pages.** The page and its total are read in one ``REPEATABLE READ READ ONLY``
  transaction: one snapshot, as SQLite's read transaction gives.
* **Timestamps.** ``timestamptz``, written at millisecond precision and shown in UTC
  with the same text as SQLite's (:func:`example_api.storage.timestamp_text`).
* **Refusals.** A ``CHECK`` or ``NOT NULL`` violation (psycopg's ``CheckViolation``,
  ``NotNullViolation``) becomes the same 400 SQLite's ``IntegrityError`` does.
* **Start-up.** Every worker runs :meth:`PostgresProductStore.initialise` at once;
  ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent twin in PostgreSQL
  (both may try to create the row type), so the first takes a transaction-scoped
  advisory lock and the others wait for it.

**The pool, and forks.** gunicorn forks its workers from one master. A connection is a
socket with a session behind it: shared by two processes, their messages interleave and
both sessions break. So the pool is made lazily, by the first request of each process,
and remembers the process id that made it; a process that finds a pool made by another
(after a fork) makes its own and leaves the inherited one alone (closing it would end
the parent's sessions). :meth:`PostgresProductStore.initialise` uses a connection of its
own, closed at once, so ``create_app()`` leaves nothing open to inherit.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

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

# Constraints are named after their column: a violation names the field that way.
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id          bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text             NOT NULL,
    price       double precision NOT NULL CONSTRAINT products_price_check CHECK (price >= 0),
    description text,
    stock       bigint           NOT NULL DEFAULT 0
                                 CONSTRAINT products_stock_check CHECK (stock >= 0),
    created_at  timestamptz      NOT NULL,
    updated_at  timestamptz      NOT NULL,
    version     bigint           NOT NULL DEFAULT 1
)
"""
#: One row (``id`` is always 1): the version of the schema in this database.
SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version integer NOT NULL
)
"""
#: The advisory lock that serialises concurrent :meth:`initialise` calls (any constant
#: works; this one spells "products" in a way no other lock here uses).
INITIALISE_LOCK = 0x70726F64
#: Seconds to wait for a new connection, and for a free one from the pool: a request
#: waits at most this long for the database, as SQLite's busy timeout allows.
CONNECT_TIMEOUT = 10
POOL_TIMEOUT = 10.0


def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    product = {column: row[column] for column in COLUMNS}
    for column in ("created_at", "updated_at"):
        product[column] = timestamp_text(product[column])
    return product


class PostgresProductStore:
    """Product rows in one PostgreSQL database, a connection pool per process.

    :param url: a libpq URL (``postgresql://user:password@host:5432/name?sslmode=…``).
    :param pool_max: the most connections one process keeps open; example_api's
        :func:`~example_api.config.pool_max_size` makes it the worker's threads plus one.
    """

    def __init__(self, url: str, *, pool_max: int = 5) -> None:
        if pool_max < 1:
            raise ValueError("the PostgreSQL pool needs at least one connection")
        self.url = url
        self.pool_max = pool_max
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._inherited: list[ConnectionPool] = []
        self._lock = threading.Lock()
        # A worker that exits closes its sessions instead of leaving the server to
        # notice; a pool made by another process is skipped (see close()).
        atexit.register(self.close)

    def __repr__(self) -> str:
        # The URL may hold a password: never show it.
        return f"PostgresProductStore(pool_max={self.pool_max})"

    # -- connections ------------------------------------------------------------------

    def _connections(self) -> ConnectionPool:
        """This process's pool, made on first use (see the module docstring)."""
        pid = os.getpid()
        with self._lock:
            if self._pool is None or self._pool_pid != pid:
                if self._pool is not None:
                    # Made before a fork: kept referenced, never closed, so that neither
                    # close() nor garbage collection ends the parent's sessions.
                    self._inherited.append(self._pool)
                pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_max,
                    kwargs={"connect_timeout": CONNECT_TIMEOUT},
                    # A connection the server dropped (restart, idle timeout) is
                    # replaced before a request gets it, not failed in its hands.
                    check=ConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT,
                    name=f"example_api-{pid}",
                    open=False,
                )
                pool.open(wait=False)
                self._pool, self._pool_pid = pool, pid
            return self._pool

    def close(self) -> None:
        """Close this process's pool (a later call makes a new one)."""
        with self._lock:
            pool, mine = self._pool, self._pool_pid == os.getpid()
            if pool is not None and mine:
                self._pool = self._pool_pid = None
        if pool is not None and mine:
            pool.close(timeout=5.0)

    # -- schema -----------------------------------------------------------------------

    def initialise(self) -> None:
        """Create the tables (idempotent, safe for workers starting together).

        :raises SchemaTooNew: the database was made by a newer release (nothing changed).
        :raises RuntimeError: the database does not store text as UTF-8.
        :raises psycopg.OperationalError: the server cannot be reached or refused us.
        """
        # Its own connection, closed at once: nothing open is left to a forked child.
        # The ``with`` commits on success and rolls back on any exception.
        with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT) as connection:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (INITIALISE_LOCK,))
            encoding = _scalar(connection.execute("SHOW server_encoding").fetchone())
            if encoding != "UTF8":
                # SQL_ASCII would store bytes unchecked, LATIN1 refuse most of Unicode:
                # either way not the text SQLite keeps.
                raise RuntimeError(
                    f"the products database stores text as {encoding}; example_api needs "
                    "UTF8 (CREATE DATABASE … ENCODING 'UTF8')"
                )
            connection.execute(SCHEMA_VERSION_TABLE)
            found = connection.execute("SELECT version FROM schema_version").fetchone()
            if found is not None and found[0] > SCHEMA_VERSION:
                raise SchemaTooNew(found[0])
            connection.execute(SCHEMA)
            # Later schema changes go here, each run when the version found is below
            # its number, before the version is raised below.
            connection.execute(
                "INSERT INTO schema_version (id, version) VALUES (1, %s)"
                " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
                (SCHEMA_VERSION,),
            )

    def schema_version(self) -> int | None:
        """The version recorded in the database (``None`` before :meth:`initialise`)."""
        with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT) as connection:
            try:
                row = connection.execute("SELECT version FROM schema_version").fetchone()
            except errors.UndefinedTable:
                return None
        return None if row is None else int(row[0])

    # -- products ---------------------------------------------------------------------

    def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        with self._connections().connection() as connection:
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor = connection.cursor(row_factory=dict_row)
            rows = cursor.execute(
                "SELECT * FROM products ORDER BY id LIMIT %s OFFSET %s", (limit, offset)
            ).fetchall()
            total = _scalar(connection.execute("SELECT COUNT(*) FROM products").fetchone())
        return [_row(row) for row in rows], int(total)  # type: ignore[misc]

    def get(self, product_id: int) -> dict[str, Any] | None:
        with self._connections().connection() as connection:
            return _fetch(connection, product_id)

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        fields = storable(fields)
        stamp = now()
        with self._connections().connection() as connection:
            cursor = connection.cursor(row_factory=dict_row)
            with _refusing_constraints():
                cursor.execute(
                    "INSERT INTO products"
                    " (name, price, description, stock, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                    (
                        fields.get("name"),
                        fields.get("price"),
                        fields.get("description"),
                        fields.get("stock", 0),
                        stamp,
                        stamp,
                    ),
                )
            created = _row(cursor.fetchone())
        assert created is not None
        return created

    def update(
        self,
        product_id: int,
        fields: dict[str, Any],
        precondition: Precondition | None = None,
    ) -> dict[str, Any] | None:
        fields = storable(fields)
        # Column names are SQL identifiers, quoted by psycopg; values stay parameters.
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in writable_columns(fields)
        )
        statement = sql.SQL(
            "UPDATE products SET {}, updated_at = %s, version = version + 1"
            " WHERE id = %s AND version = %s RETURNING *"
        ).format(assignments)
        with self._connections().connection() as connection:
            current = _checked(connection, product_id, precondition)
            if current is None:
                return None
            cursor = connection.cursor(row_factory=dict_row)
            with _refusing_constraints():
                cursor.execute(statement, (*fields.values(), now(), product_id, current["version"]))
            # Cannot fail while this transaction holds the row lock; checked anyway,
            # since a lost update is the one thing this must never allow.
            if cursor.rowcount != 1:
                raise PreconditionFailed
            return _row(cursor.fetchone())

    def delete(self, product_id: int, precondition: Precondition | None = None) -> bool:
        with self._connections().connection() as connection:
            current = _checked(connection, product_id, precondition)
            if current is None:
                return False
            cursor = connection.execute(
                "DELETE FROM products WHERE id = %s AND version = %s",
                (product_id, current["version"]),
            )
            if cursor.rowcount != 1:
                raise PreconditionFailed
            return True


def _scalar(row: tuple[Any, ...] | None) -> Any:
    assert row is not None
    return row[0]


@contextmanager
def _refusing_constraints() -> Iterator[None]:
    """Turn a ``CHECK`` or ``NOT NULL`` violation into the 400 naming the field. The
    pool's ``connection()`` context then rolls the transaction back."""
    try:
        yield
    except errors.CheckViolation as error:
        raise constraint_refusal(error.diag.constraint_name or "", not_null=False) from None
    except errors.NotNullViolation as error:
        raise constraint_refusal(error.diag.column_name or "", not_null=True) from None


_READ_ROW = "SELECT * FROM products WHERE id = %s"
_LOCK_ROW = "SELECT * FROM products WHERE id = %s FOR UPDATE"


def _fetch(
    connection: psycopg.Connection[Any], product_id: int, *, lock: bool = False
) -> dict[str, Any] | None:
    """The row of ``product_id``; ``None`` if there is none, or if the id is outside
    ``bigint`` (psycopg would send it as ``numeric`` and the comparison would still
    work, but no row can have it: the answer is the same as SQLite's without asking)."""
    if not 0 <= product_id <= MAX_ID:
        return None
    cursor = connection.cursor(row_factory=dict_row)
    return _row(cursor.execute(_LOCK_ROW if lock else _READ_ROW, (product_id,)).fetchone())


def _checked(
    connection: psycopg.Connection[Any], product_id: int, precondition: Precondition | None
) -> dict[str, Any] | None:
    """The current row, locked until the transaction ends (``None`` if missing), once
    ``precondition`` holds for it."""
    current = _fetch(connection, product_id, lock=True)
    if current is not None and precondition is not None and not precondition(current):
        raise PreconditionFailed
    return current
