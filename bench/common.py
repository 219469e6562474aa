"""Shared benchmark plumbing: a devnet in a temp folder, databases, markdown output."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet

PG_ADMIN_URL = os.environ.get(
    "POLYGON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def running_devnet(*args: str) -> Iterator[DevnetHandle]:
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        handle = start_devnet(Path(tmp) / "devnet", *args)
        try:
            yield handle
        finally:
            handle.stop()


@contextlib.contextmanager
def scratch_databases() -> Iterator[dict[str, str]]:
    """A fresh SQLite file and a fresh PostgreSQL database, dropped afterwards."""
    name = f"pp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
            yield {
                "sqlite": f"sqlite:///{tmp}/bench.db",
                "postgresql": make_url(PG_ADMIN_URL)
                .set(database=name)
                .render_as_string(hide_password=False),
            }
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
