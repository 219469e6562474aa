"""Heartbeat rows: a process's latest health status, readable by Dagster and operators."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from polygon_pipeline.store.schema import heartbeats
from polygon_pipeline.store.upsert import upsert


def beat(conn: Connection, name: str, holder: str, status: dict) -> None:
    row = {
        "name": name,
        "holder": holder,
        "updated_at": datetime.now(tz=UTC),
        "status": json.dumps(status, default=str)[:2000],
    }
    conn.execute(upsert(conn, heartbeats, row, key=["name"]))


def last_beat(conn: Connection, name: str) -> tuple[datetime, dict] | None:
    row = conn.execute(
        select(heartbeats.c.updated_at, heartbeats.c.status).where(heartbeats.c.name == name)
    ).first()
    return None if row is None else (row.updated_at, json.loads(row.status))
