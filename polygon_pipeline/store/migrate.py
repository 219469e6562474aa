"""Bring a database's schema to the current revision, once, under a lock.

Several processes (Dagster runs, the watcher, the CLI) may open an empty or older database at
the same moment: the first takes the lock and migrates, the others wait and find it done.
A new database is created from the current metadata and stamped (Alembic's recommended
path); one made by the first release, before migrations existed, is stamped as the baseline
and upgraded in place, its rows kept. One written by a newer release (a revision this code
does not know) is refused, untouched, with one line saying so: downgrading it is the newer
release's business, and writing to it with this one's schema could lose what it added.
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


class DatabaseTooNew(RuntimeError):
    """The database's schema revision is unknown to this release: a newer one wrote it."""


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


def _refuse_unknown(current: str | None) -> None:
    script = ScriptDirectory(str(MIGRATIONS))
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise DatabaseTooNew(
            f"the database was written by a newer release of polygon_pipeline (schema "
            f"revision {current}; this release knows up to {script.get_current_head()}): "
            "upgrade polygon_pipeline to use it; nothing was changed"
        )


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the head revision (cheap when already there); refuse
    a database of a newer release (DatabaseTooNew) without changing it."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    _refuse_unknown(current)
    with _migration_lock(engine), engine.begin() as conn:
        config = _config(conn)
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return  # another process did it while we waited
        _refuse_unknown(current)  # or a newer release did
        if current is None and not inspect(conn).has_table("fills"):
            metadata.create_all(conn)
            command.stamp(config, "head")
            return
        if current is None:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
