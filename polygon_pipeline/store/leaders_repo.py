"""The leader wallets to follow. Validated as a whole before anything is written."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select

from polygon_pipeline.chain.addresses import normalize_address
from polygon_pipeline.store.schema import leaders
from polygon_pipeline.store.upsert import insert_on_conflict


def add_leaders(conn: Connection, addresses: Iterable[str], label: str | None = None) -> int:
    """Add leaders, returning how many were new; raise InvalidAddress (naming the bad one)
    before writing any."""
    normalized = sorted({normalize_address(a) for a in addresses})
    if not normalized:
        return 0
    now = datetime.now(tz=UTC)
    stmt = insert_on_conflict(conn, leaders).values(
        [{"address": a, "label": label, "added_at": now} for a in normalized]
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["address"]).returning(leaders.c.address)
    return len(conn.execute(stmt).all())


def remove_leaders(conn: Connection, addresses: Iterable[str]) -> int:
    normalized = {normalize_address(a) for a in addresses}
    return conn.execute(delete(leaders).where(leaders.c.address.in_(normalized))).rowcount


def list_leaders(conn: Connection) -> list[str]:
    return list(conn.execute(select(leaders.c.address).order_by(leaders.c.address)).scalars())


def read_leader_file(text: str) -> list[str]:
    """Addresses from an import file: one a line; blank lines and `#` comments skipped;
    a CSV line's first field is the address. Errors name the line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not entry or entry.lower() == "address":
            continue
        try:
            found.append(normalize_address(entry))
        except ValueError as exc:
            raise type(exc)(f"line {number}: {exc}") from None
    return found
