"""A database written by a newer release: every command says so in one line, naming the
schema revision and what to do, and changes nothing (it printed a 96-line Alembic traceback)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.store.schema import metadata
from polygon_pipeline_tests.helpers.cli import run_cli

FUTURE = "0099_from_a_newer_release"
EXPECTED = (
    f"the database was written by a newer release of polygon_pipeline (schema revision "
    f"{FUTURE}; this release knows up to "
)


def _rows(db_url: str) -> dict[str, list[tuple]]:
    engine = make_engine(db_url, create_schema=False)
    try:
        with engine.connect() as conn:
            tables = {
                t.name: sorted(map(tuple, conn.execute(select(t)))) for t in metadata.sorted_tables
            }
            tables["alembic_version"] = list(conn.execute(text("SELECT * FROM alembic_version")))
            return tables
    finally:
        engine.dispose()


@pytest.fixture
def newer_db(devnet, db_url, leaders) -> str:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders[:2])
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    engine.dispose()
    return db_url


@pytest.mark.parametrize(
    "command",
    [
        ("leaders", "list"),
        ("leaders", "add", "0x" + "12" * 20),
        ("backfill", "--from-block", "0", "--to-block", "5"),
        ("api-poll", "--once"),
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_every_command_says_so_in_one_line_and_changes_nothing(devnet, newer_db, command):
    before = _rows(newer_db)
    result = run_cli(*command, env=devnet.pipeline_env(newer_db))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {EXPECTED}")
    assert lines[0].endswith("upgrade polygon_pipeline to use it; nothing was changed")
    assert _rows(newer_db) == before


def test_doctor_says_so_in_one_line_per_check(devnet, newer_db):
    before = _rows(newer_db)
    result = run_cli("doctor", env=devnet.pipeline_env(newer_db))
    assert result.returncode == 1
    assert result.stderr == "" and "Traceback" not in result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split()[1] for line in failed] == ["db", "rpc"]  # each opens the store
    assert all(f"DatabaseTooNew: {EXPECTED}" in line for line in failed)
    assert _rows(newer_db) == before
