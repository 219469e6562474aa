"""Bring a database's schema to the current revision, once, under a lock.

Several processes (Dagster runs, the watcher, the CLI) may open an empty or older database at
the same moment: the first takes the lock and migrates, the others wait and find it done.
A new database is created from the current metadata and stamped (Alembic's recommended
path); one made by the first release, before migrations existed, is stamped as the baseline
and upgraded in place, its rows kept. One written by a newer release (a revision this code
does not know) is refused, untouched, with one line saying so: downgrading it is the newer
release's business, and writing to it with this one's schema could lose what it added.

A database already at the newest revision, every start but the first, is recognized without
importing Alembic (which takes longer to import than a `leaders` command takes to run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from polygon_pipeline.store.schema import metadata
from polygon_pipeline.store.views import leader_trades  # noqa: F401 - creates the views with the schema

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001_baseline"
VERSION_TABLE = "alembic_version"
MIGRATION_LOCK_SUFFIX = ".migrate.lock"  # the lock file beside a SQLite store
_PG_LOCK_KEY = 0x706F6C79_6D696772  # "polymigr": the advisory lock migrations hold


class DatabaseTooNew(RuntimeError):
    """The database's schema revision is unknown to this release: a newer one wrote it."""


def newest_revision() -> str:
    """The newest migration by the versions folder's rule (`NNNN_name.py`, its revision id
    the file's name), read without Alembic; test_store checks that it is Alembic's head."""
    return max(path.stem for path in (MIGRATIONS / "versions").glob("[0-9]*.py"))


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions the database records (none before its first migration)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return []
        return list(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _config(conn: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

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
        from filelock import FileLock

        with FileLock(f"{engine.url.database}{MIGRATION_LOCK_SUFFIX}"):
            yield
    else:
        yield


def _refuse_unknown(current: str | None) -> None:
    from alembic.script import ScriptDirectory

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
    if stored_revisions(engine) == [newest_revision()]:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    head = head_revision()
    _refuse_unknown(current_revision(engine))
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
