"""Bring a database's schema to the current revision, once, under a lock.

Several processes (Dagster runs, the watcher, the CLI) may open an empty or older database at
the same moment: the first takes the lock and migrates, the others wait and find it done.
A new database is created from the current metadata and stamped (Alembic's recommended
path); one made by the first release, before migrations existed, is stamped as the baseline
and upgraded in place, its rows kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, inspect, text

from polygon_pipeline.store.schema import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
_PG_LOCK_KEY = 0x706F6C79_6D696772  # "polymigr": the advisory lock migrations hold


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    elif engine.url.database and engine.url.database != ":memory:":
        with FileLock(f"{engine.url.database}.migrate.lock"):
            yield
    else:
        yield


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the head revision (cheap when already there)."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    with _migration_lock(engine), engine.begin() as conn:
        config = _config(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return  # another process did it while we waited
        if current is None and not inspect(conn).has_table("fills"):
            metadata.create_all(conn)
            command.stamp(config, "head")
            return
        if current is None:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
