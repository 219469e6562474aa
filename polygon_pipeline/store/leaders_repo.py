"""The leader wallets to follow. Validated as a whole before anything is written."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, select, update

from polygon_pipeline.chain.addresses import InvalidAddress, normalize_address
from polygon_pipeline.chain.exchanges import VENUE_BY_ADDRESS
from polygon_pipeline.chain.log_queries import leader_batches
from polygon_pipeline.store.schema import exchange_cursors, fills, leaders
from polygon_pipeline.store.upsert import ROWS_PER_STATEMENT, insert_on_conflict

LABEL_MAX = leaders.c.label.type.length


class InvalidLabel(ValueError):
    """A leader label the store cannot hold."""


def leader_address(value: str) -> str:
    """A wallet to follow, lowercase; InvalidAddress for a malformed address or for one of
    the exchange contracts (they are every fill's taker, never a leader)."""
    address = normalize_address(value)
    venue = VENUE_BY_ADDRESS.get(address)
    if venue is not None:
        raise InvalidAddress(
            f"{value.strip()} is the {venue.name} exchange contract, not a wallet: follow the "
            "leader's proxy wallet or Safe"
        )
    return address


def add_leaders(
    conn: Connection,
    addresses: Iterable[str],
    label: str | None = None,
    history_from_block: int | None = None,
) -> int:
    """Add leaders, returning how many were new; raise InvalidAddress (naming the bad one)
    before writing any. `history_from_block`: how far back the new leaders' fills are wanted
    (sync/history.py fetches them)."""
    normalized = {leader_address(a) for a in addresses}
    if label is not None and len(label) > LABEL_MAX:
        raise InvalidLabel(f"label: at most {LABEL_MAX} characters (got {len(label)})")
    now = datetime.now(tz=UTC)
    added = 0
    for chunk in leader_batches(normalized, ROWS_PER_STATEMENT):
        rows = [
            {
                "address": a,
                "label": label,
                "added_at": now,
                "history_from_block": history_from_block,
            }
            for a in chunk
        ]
        stmt = insert_on_conflict(conn, leaders).values(rows)
        stmt = stmt.on_conflict_do_nothing(index_elements=["address"]).returning(leaders.c.address)
        added += len(conn.execute(stmt).all())
    return added


def remove_leaders(conn: Connection, addresses: Iterable[str]) -> int:
    normalized = [normalize_address(a) for a in addresses]
    return sum(
        conn.execute(delete(leaders).where(leaders.c.address.in_(chunk))).rowcount
        for chunk in leader_batches(normalized, ROWS_PER_STATEMENT)
    )


def list_leaders(conn: Connection) -> list[str]:
    return list(conn.execute(select(leaders.c.address).order_by(leaders.c.address)).scalars())


def want_history(conn: Connection, addresses: Iterable[str], from_block: int) -> None:
    """Ask for these leaders' fills from `from_block` on (an explicit request replaces the
    default one set when they were added)."""
    normalized = [normalize_address(a) for a in addresses]
    for chunk in leader_batches(normalized, ROWS_PER_STATEMENT):
        conn.execute(
            update(leaders)
            .where(leaders.c.address.in_(chunk))
            .values(history_from_block=from_block)
        )


def wanted_histories(conn: Connection, addresses: Iterable[str] | None = None) -> dict[str, int]:
    """{leader: first block wanted} of the leaders (all, or these) that want a history."""
    query = select(leaders.c.address, leaders.c.history_from_block).where(
        leaders.c.history_from_block.is_not(None)
    )
    wanted = {address: start for address, start in conn.execute(query)}
    if addresses is None:
        return wanted
    return {a: wanted[a] for a in {normalize_address(a) for a in addresses} if a in wanted}


def default_history_start(conn: Connection, history_blocks: int) -> int | None:
    """Where a leader added now starts its history by default: POLYGON_LEADER_HISTORY_BLOCKS
    below the lowest exchange cursor; None (nothing to fetch) when that setting is 0 or
    nothing was reconciled yet (the first reconciliation covers every leader)."""
    lowest = conn.execute(select(func.min(exchange_cursors.c.last_processed_block))).scalar()
    if history_blocks == 0 or lowest is None:
        return None
    return max(0, lowest - history_blocks + 1)


def leader_stats(conn: Connection) -> list[dict]:
    """Per leader: fills as maker, the last one's block and time (a leader with none, or none
    for long, may be the signing key rather than the funded proxy wallet)."""
    per_maker = (
        select(
            fills.c.maker,
            func.count().label("fills_as_maker"),
            func.max(fills.c.block_number).label("last_block"),
            func.max(fills.c.block_timestamp).label("last_time"),
        )
        .group_by(fills.c.maker)
        .subquery()
    )
    query = (
        select(leaders.c.address, leaders.c.label, per_maker)
        .outerjoin(per_maker, per_maker.c.maker == leaders.c.address)
        .order_by(leaders.c.address)
    )
    return [
        {**row._mapping, "fills_as_maker": row.fills_as_maker or 0} for row in conn.execute(query)
    ]


def decode_leader_file(data: bytes) -> str:
    """An import file's text, whatever a spreadsheet saved it as: UTF-8 with or without a
    BOM, UTF-16 with a BOM, or a legacy 8-bit encoding (only comments and labels can hold
    non-ASCII; an address never does, so a stray byte surfaces as a bad address on its line)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_leader_file(text: str) -> list[str]:
    """Addresses from an import file: one a line; blank lines and `#` comments skipped;
    a CSV line's first field is the address. Errors name the line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
        if not entry or entry.lower() == "address":
            continue
        try:
            found.append(leader_address(entry))
        except ValueError as exc:
            raise type(exc)(f"line {number}: {exc}") from None
    return found
