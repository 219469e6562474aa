"""The command line starts at once: help and the everyday commands import none of the
libraries that take seconds to import (web3, pandas, Dagster...); a command that needs one
imports it when it runs. Asserted as the set of packages a real process imported, not as a
duration (bench/cli_start.py measures the times)."""

from __future__ import annotations

import click
import pytest

from polygon_pipeline.cli import cli
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline_tests.helpers.cli import packages_imported_by

# What no command named in the start-time target imports: seconds together.
HEAVY = {"web3", "eth_abi", "eth_account", "pandas", "dagster", "aiohttp"}
# Help needs click alone: not even the store's or the settings' libraries.
NOT_FOR_HELP = HEAVY | {"sqlalchemy", "alembic", "pydantic", "pydantic_settings", "requests"}
# A store already at the current schema needs no migration tool.
NOT_FOR_LEADERS = HEAVY | {"alembic", "requests", "tenacity", "websockets"}

A, B = "0x" + "ab" * 20, "0x" + "cd" * 20


def _help_lines(command: click.Command, path: list[str]) -> list[list[str]]:
    """`--help` of `command` and of every subcommand below it."""
    lines = [[*path, "--help"]]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            lines += _help_lines(sub, [*path, name])
    return lines


def test_every_help_imports_click_alone(tmp_path):
    lines = _help_lines(cli, [])
    assert ["leaders", "list", "--help"] in lines and len(lines) > 15
    imported = packages_imported_by(lines, env={}, listing=tmp_path / "modules.json")
    assert imported.statuses == [0] * len(lines)
    assert imported.packages & NOT_FOR_HELP == set()


@pytest.fixture
def migrated_db_env(tmp_path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    make_engine(url).dispose()
    return {"POLYGON_PIPELINE_DB_URL": url}


def test_leaders_commands_need_neither_web3_nor_pandas_nor_dagster(migrated_db_env, tmp_path):
    file = tmp_path / "leaders.txt"
    file.write_text(f"{B}\n")
    lines = [
        ["leaders", "add", A, "0x" + "AB" * 20],
        ["leaders", "import", str(file)],
        ["leaders", "list", "--stats"],
        ["leaders", "remove", A],
        ["leaders", "list"],
    ]
    imported = packages_imported_by(lines, env=migrated_db_env, listing=tmp_path / "m.json")
    assert imported.statuses == [0] * len(lines)
    assert imported.packages & NOT_FOR_LEADERS == set()


def test_doctor_needs_neither_web3_nor_pandas_nor_dagster(migrated_db_env, tmp_path):
    # No RPC and no WebSocket URL: doctor reports them missing without a network call, after
    # importing everything its checks use.
    imported = packages_imported_by([["doctor"]], env=migrated_db_env, listing=tmp_path / "m.json")
    assert imported.statuses == [1]  # no leaders, no RPC, no WebSocket: three checks fail
    assert {"sqlalchemy", "requests", "websockets"} <= imported.packages  # it ran every check
    assert imported.packages & HEAVY == set()
