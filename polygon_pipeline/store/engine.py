"""Engines for the store: a SQLite file by default, PostgreSQL by URL, same code for both."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from polygon_pipeline.store.migrate import MIGRATION_LOCK_SUFFIX, migrate

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_SIZE = 16_384


def _tune_sqlite(dbapi_conn, _record) -> None:
    # A new file's pages are 16 KiB, not 4: a fill's row is about 1 KiB (eight uint256 as
    # 78-digit text), and bigger pages cut the page splits and WAL frames of a batch (new
    # rows 20-50 % faster, BENCHMARKS 4c). Only a file with no page yet takes it: it must
    # come before WAL mode writes the header, and an existing store keeps its own size.
    # WAL lets readers (a bot, Dagster checks) run while a writer commits; several of our
    # processes write the same file, so they wait for the lock instead of failing at once.
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _begin_immediate(conn) -> None:
    # Take SQLite's write lock when the transaction starts, not at its first write: a
    # read-then-write transaction (the shared limiter's) would otherwise fail with "database
    # is locked" instead of waiting, when another process wrote in between.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _driver_autocommit(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN itself


def remove_sqlite_store(path: Path) -> None:
    """Delete a SQLite store and what lives beside it: its WAL, shared memory and the
    migrations' lock file."""
    for suffix in ("", "-wal", "-shm", MIGRATION_LOCK_SUFFIX):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def make_engine(url: str, *, create_schema: bool = True, serializable: bool = False) -> Engine:
    """Create an engine for `url` (creating the SQLite file's folder, and migrating the
    schema to the current revision unless `create_schema` is False).

    `serializable=True` makes every SQLite transaction take the write lock at BEGIN, for
    short read-modify-write transactions shared between processes; PostgreSQL callers use
    row locks (SELECT ... FOR UPDATE) instead."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _tune_sqlite)
        if serializable:
            event.listen(engine, "connect", _driver_autocommit)
            event.listen(engine, "begin", _begin_immediate)
    else:
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
    if create_schema:
        migrate(engine)
    return engine
