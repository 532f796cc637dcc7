"""example_api's product stores, called directly: the rules of example_api.storage, each
checked on SQLite and on PostgreSQL with the same expected values (``database_backend``,
tests/conftest.py). A test here passing on one backend and failing on the other is a
semantic difference the HTTP tests might not reach.

Also: choosing the backend from ``EXAMPLE_API_DATABASE``, the schema version, the pool's
size and its behaviour across a fork.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from example_api import config
from example_api.schema import InvalidBody
from example_api.storage import MAX_ID
from example_api.storage import SCHEMA_VERSION
from example_api.storage import PreconditionFailed
from example_api.storage import ProductStore
from example_api.storage import SchemaTooNew
from example_api.storage import is_postgres_url
from example_api.storage import open_store
from example_api.storage_sqlite import SQLiteProductStore
from postgres_server import PostgresServer

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MUG = {"name": "Mug", "price": 9.5, "description": None, "stock": 0}


@pytest.fixture
def database(new_database: Callable[[], str]) -> str:
    """A fresh, empty database of the module's backend."""
    return new_database()


@pytest.fixture
def store(database: str) -> Iterator[ProductStore]:
    opened = open_store(database)
    opened.initialise()
    yield opened
    opened.close()


def execute(database: str, statement: str) -> None:
    """Run one SQL statement behind the store's back (both backends speak it)."""
    if is_postgres_url(database):
        import psycopg

        with psycopg.connect(database) as connection:
            connection.execute(statement)
    else:
        with sqlite3.connect(database) as connection:
            connection.execute(statement)
        connection.close()


def version_of(store: ProductStore) -> int | None:
    reader: Callable[[], int | None] = store.schema_version  # type: ignore[attr-defined]
    return reader()


# -- rows -----------------------------------------------------------------------------


def test_a_created_row_has_every_column_in_order(store: ProductStore) -> None:
    product = store.create({"name": "Mug", "price": 20, "description": "tall", "stock": 3})
    assert list(product) == [
        "id",
        "name",
        "price",
        "description",
        "stock",
        "created_at",
        "updated_at",
        "version",
    ]
    assert (product["id"], product["version"]) == (1, 1)
    # An integer price comes back as the float the column holds, on both backends.
    assert product["price"] == 20.0
    assert isinstance(product["price"], float)
    assert TIMESTAMP.fullmatch(product["created_at"])
    assert product["created_at"] == product["updated_at"]
    assert store.get(product["id"]) == product


def test_updates_raise_the_version_and_the_time(store: ProductStore) -> None:
    product = store.create(MUG)
    updated = store.update(product["id"], {"stock": 4, "price": 1.25})
    assert updated is not None
    assert (updated["version"], updated["stock"], updated["price"]) == (2, 4, 1.25)
    assert updated["created_at"] == product["created_at"]
    assert TIMESTAMP.fullmatch(updated["updated_at"])
    assert updated["updated_at"] >= product["updated_at"]
    assert store.update(10_000, {"stock": 1}) is None


def test_ids_grow_and_are_never_reused(store: ProductStore) -> None:
    first, second = store.create(MUG), store.create(MUG)
    assert second["id"] == first["id"] + 1
    assert store.delete(second["id"]) is True
    assert store.delete(second["id"]) is False
    assert store.create(MUG)["id"] == second["id"] + 1  # not the deleted newest id


@pytest.mark.parametrize("product_id", [0, -1, MAX_ID, MAX_ID + 1, 10**30])
def test_ids_no_row_can_have_are_none(store: ProductStore, product_id: int) -> None:
    assert store.get(product_id) is None
    assert store.update(product_id, {"stock": 1}) is None
    assert store.delete(product_id) is False


def test_pages_and_totals(store: ProductStore) -> None:
    ids = [store.create({**MUG, "name": f"item-{n}"})["id"] for n in range(5)]
    page, total = store.list(2, 1)
    assert ([row["id"] for row in page], total) == (ids[1:3], 5)
    assert store.list(10, 999_999_999_999_999_999) == ([], 5)


@pytest.mark.parametrize("price", [-0.0, 0.1 + 0.2, 5e-324, 1e15, 2**53 + 1])
def test_prices_read_back_alike(store: ProductStore, price: float) -> None:
    """8-byte floats on both; a negative zero loses its sign on both (SQLite drops it,
    so the store drops it for PostgreSQL too), and an integer becomes the nearest float."""
    product = store.create({**MUG, "price": price})
    assert repr(product["price"]) == repr(float(price) + 0.0)
    updated = store.update(product["id"], {"price": price})
    assert updated is not None
    assert repr(updated["price"]) == repr(float(price) + 0.0)


def test_text_round_trips(store: ProductStore) -> None:
    text = "\U0001f600 caf\u00e9 \u0645\u0642 a\u200db\t\r\n" + "x" * 2000
    product = store.create({**MUG, "name": "n", "description": text})
    assert store.get(product["id"])["description"] == text  # type: ignore[index]


# -- conditional writes ---------------------------------------------------------------


def test_a_failed_precondition_writes_nothing(store: ProductStore) -> None:
    product = store.create(MUG)
    with pytest.raises(PreconditionFailed):
        store.update(product["id"], {"stock": 9}, lambda row: row["version"] == 7)
    with pytest.raises(PreconditionFailed):
        store.delete(product["id"], lambda row: False)
    assert store.get(product["id"]) == product
    assert store.delete(product["id"], lambda row: row["version"] == 1) is True


def test_racing_editors_with_one_version_exactly_one_wins(store: ProductStore) -> None:
    """Threads that all read version 1 and all write on condition of it, released
    together: one write, every other one PreconditionFailed, on both backends (SQLite's
    write lock, PostgreSQL's row lock)."""
    product = store.create(MUG)
    editors = 6
    barrier = threading.Barrier(editors, timeout=10)
    outcomes: list[str] = []

    def edit(number: int) -> None:
        barrier.wait()
        try:
            store.update(product["id"], {"name": f"editor-{number}"}, lambda r: r["version"] == 1)
            outcomes.append(f"editor-{number}")
        except PreconditionFailed:
            outcomes.append("412")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    winners = [outcome for outcome in outcomes if outcome != "412"]
    assert (len(outcomes), len(winners)) == (editors, 1)
    final = store.get(product["id"])
    assert final is not None
    assert (final["name"], final["version"]) == (winners[0], 2)


def test_unconditional_writers_all_succeed(store: ProductStore) -> None:
    """Without a precondition no write may fail, however many race (each adds 1)."""
    product = store.create(MUG)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(5):
                store.update(product["id"], {"stock": 1})
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert store.get(product["id"])["version"] == 21  # type: ignore[index]


# -- refusals: the same 400 from both backends ------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({**MUG, "price": -1}, {"price": "must not be negative"}),
        ({**MUG, "stock": -1}, {"stock": "must not be negative"}),
        ({**MUG, "name": None}, {"name": "is required"}),
        ({**MUG, "name": "M\x00ug"}, {"name": "must not contain NUL characters"}),
        (
            {**MUG, "description": "\udc80"},
            {"description": "must be valid Unicode text (no lone surrogate)"},
        ),
        ({**MUG, "stock": 2**63}, {"stock": "is out of range"}),
        ({**MUG, "price": float("nan")}, {"price": "must be a finite number"}),
    ],
)
def test_values_a_database_cannot_hold_are_invalid_body(
    store: ProductStore, fields: dict[str, Any], expected: dict[str, str]
) -> None:
    """Past the request validation (a direct caller), each is still a 400 naming the
    field: PostgreSQL refuses NUL where SQLite stores it, and the constraint errors of
    the two drivers differ; the store makes them one answer."""
    with pytest.raises(InvalidBody) as created:
        store.create(fields)
    assert created.value.fields == expected
    product = store.create(MUG)
    change = {name: fields[name] for name in expected}
    with pytest.raises(InvalidBody) as updated:
        store.update(product["id"], change)
    assert updated.value.fields == expected
    assert store.get(product["id"]) == product  # rolled back
    assert store.list(10, 0)[1] == 1


def test_update_names_only_product_columns(store: ProductStore) -> None:
    product = store.create(MUG)
    with pytest.raises(ValueError, match="not product columns"):
        store.update(product["id"], {"version": 1})


# -- schema version -------------------------------------------------------------------


def test_the_schema_version_is_recorded_once(database: str) -> None:
    store = open_store(database)
    assert version_of(store) is None
    store.initialise()
    store.initialise()  # every worker runs it: idempotent
    assert version_of(store) == SCHEMA_VERSION == 1
    store.close()


def test_workers_initialising_at_once_all_succeed(database: str) -> None:
    stores = [open_store(database) for _ in range(4)]
    barrier = threading.Barrier(len(stores), timeout=10)
    errors: list[BaseException] = []

    def start(store: ProductStore) -> None:
        barrier.wait()
        try:
            store.initialise()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert version_of(stores[0]) == SCHEMA_VERSION


def test_a_newer_schema_stops_the_start(database: str) -> None:
    store = open_store(database)
    store.initialise()
    execute(database, "UPDATE schema_version SET version = 2")
    with pytest.raises(SchemaTooNew, match="schema version 2, but this example_api knows"):
        store.initialise()
    assert version_of(store) == 2  # left as found


def test_a_sqlite_file_from_before_schema_versions_gets_one(tmp_path: Any) -> None:
    """``make demo`` reuses its file: one made before schema_version existed is at
    version 1 once started."""
    database = str(tmp_path / "old.sqlite3")
    execute(
        database,
        "CREATE TABLE products (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
        " price REAL NOT NULL CHECK (price >= 0), description TEXT,"
        " stock INTEGER NOT NULL DEFAULT 0 CHECK (stock >= 0),"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    )
    store = SQLiteProductStore(database)
    store.initialise()
    assert version_of(store) == 1
    assert store.create(MUG)["version"] == 1


# -- choosing the backend, and the pool ---------------------------------------------------


def test_the_backend_follows_the_setting(tmp_path: Any) -> None:
    assert isinstance(open_store(str(tmp_path / "a.sqlite3")), SQLiteProductStore)
    for url in ("postgresql://u@h/db", "postgres://u@h/db", " POSTGRESQL://u@h/db"):
        assert is_postgres_url(url)
        assert type(open_store(url)).__name__ == "PostgresProductStore"
    with pytest.raises(ValueError, match="'mysql' URLs are not supported"):
        open_store("mysql://u@h/db")


def test_pool_size_follows_the_worker_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_worker_threads", None)
    assert config.pool_max_size({}) == config.DEFAULT_THREADS + 1
    assert config.pool_max_size({"EXAMPLE_API_THREADS": "8"}) == 9
    assert config.pool_max_size({"EXAMPLE_API_THREADS": "8", "EXAMPLE_API_DB_POOL_MAX": "3"}) == 3
    config.record_worker_threads(16)  # gunicorn's post_fork, from its own settings
    assert config.pool_max_size({"EXAMPLE_API_THREADS": "8"}) == 17
    for bad in ("0", "-1", "many", "\u0661"):
        with pytest.raises(ValueError, match="EXAMPLE_API_DB_POOL_MAX must be a positive"):
            config.pool_max_size({"EXAMPLE_API_DB_POOL_MAX": bad})


def test_a_pool_is_never_used_across_a_fork(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that finds a pool made by another (its parent, before a fork) makes
    its own and neither uses nor closes the inherited one. Simulated by changing the
    process id the store sees; real forks are gunicorn's, in test_example_api.py.
    PostgreSQL only: SQLite opens a connection per call, nothing crosses a fork."""
    from example_api import storage_postgres

    database = postgres_server.create_database()
    store = storage_postgres.PostgresProductStore(database, pool_max=2)
    store.initialise()
    product = store.create(MUG)
    parent = store._connections()
    real_pid = storage_postgres.os.getpid()
    monkeypatch.setattr(storage_postgres.os, "getpid", lambda: real_pid + 1)
    assert store.get(product["id"]) == product
    child = store._connections()
    assert child is not parent
    assert store._inherited == [parent]
    store.close()  # the child's own pool only
    assert not parent.closed
    assert child.closed
    monkeypatch.undo()
    parent.close()
    postgres_server.drop_database(database)
