"""Writing and reading fills: idempotent upserts keyed on (chain_id, tx_hash, log_index)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, delete, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.store.bulk_upsert import copy_upsert, executemany_upsert
from polygon_pipeline.store.schema import fills, leaders

Upsert = TypeVar("Upsert", postgresql.Insert, sqlite.Insert)
FILLS_CHANNEL = "polygon_pipeline_fills"  # PostgreSQL LISTEN channel, see README
_NOTIFIED = (
    fills.c.chain_id,
    fills.c.tx_hash,
    fills.c.log_index,
    fills.c.exchange,
    fills.c.maker,
    fills.c.taker,
    fills.c.block_number,
)


def _ts(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


# Columns that are the Fill's own fields (collateral_amount and token_amount: properties).
_FILL_FIELDS = (
    "chain_id", "exchange", "venue", "layout", "block_number", "block_hash", "tx_hash",
    "log_index", "order_hash", "maker", "taker", "maker_asset_id", "taker_asset_id",
    "maker_amount", "taker_amount", "fee", "side", "token_id", "collateral_amount",
    "token_amount", "fee_asset", "builder", "metadata",
)  # fmt: skip


def fill_columns(batch: Sequence[Fill], source: str, seen_at: datetime) -> dict[str, list]:
    """The fills' rows column by column, as the bulk writers take them."""
    times = {s: _ts(s) for s in {f.block_timestamp for f in batch}}  # fills share blocks
    columns = {name: [getattr(f, name) for f in batch] for name in _FILL_FIELDS}
    columns["block_timestamp"] = [times[f.block_timestamp] for f in batch]
    columns["source"] = [source] * len(batch)
    columns["first_seen_at"] = [seen_at] * len(batch)
    return columns


def upsert_fills(
    conn: Connection, batch: Iterable[Fill], source: str, seen_at: datetime | None = None
) -> int:
    """Store fills idempotently; return how many rows were inserted or moved to a new block.

    A fill already stored keeps its `source` and `first_seen_at` (who saw it first is the
    point of recording them); its block fields follow the chain if a reorg re-included the
    same transaction elsewhere, and a missing block timestamp is filled in.
    """
    if source not in ("ws", "backfill"):
        raise ValueError(f"source must be 'ws' or 'backfill', got {source!r}")
    seen_at = seen_at or datetime.now(tz=UTC)
    unique = list({f.key: f for f in batch}.values())  # a log that matched both queries: once
    if not unique:
        return 0
    columns = fill_columns(unique, source, seen_at)
    if conn.dialect.name == "sqlite":
        return executemany_upsert(conn, fills, columns, _follow_the_chain)
    written = copy_upsert(conn, fills, columns, _follow_the_chain, _NOTIFIED)
    _notify(conn, [{**row._mapping, "removed": False} for row in written])
    return len(written)


def _follow_the_chain(stmt: Upsert) -> Upsert:
    """A stored fill keeps its source and first sighting; only its block fields change, and
    only when they say something new (so an unchanged re-run writes and notifies nothing)."""
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["chain_id", "tx_hash", "log_index"],
        set_={
            "block_number": new.block_number,
            "block_hash": new.block_hash,
            "block_timestamp": func.coalesce(new.block_timestamp, fills.c.block_timestamp),
        },
        where=(fills.c.block_hash != new.block_hash)
        | (fills.c.block_timestamp.is_(None) & new.block_timestamp.is_not(None)),
    )


def retract_fills(conn: Connection, stale: Sequence[tuple[tuple[int, str, int], str]]) -> int:
    """Delete fills that left the canonical chain, each given as (identity, the block hash
    found stale): a row stored since in another block (the fill mined again after a reorg)
    does not match and stays. Consumers are told (removed: true)."""
    if not stale:
        return 0
    rows = [(*key, block_hash) for key, block_hash in stale]
    identity = tuple_(fills.c.chain_id, fills.c.tx_hash, fills.c.log_index, fills.c.block_hash)
    result = conn.execute(delete(fills).where(identity.in_(rows)).returning(*_NOTIFIED)).all()
    _notify(conn, [{**row._mapping, "removed": True} for row in result])
    return len(result)


def _notify(conn: Connection, events: list[dict]) -> None:
    """PostgreSQL: one NOTIFY per written or retracted fill on FILLS_CHANNEL, delivered when
    the transaction commits (so a bot never hears of a fill it cannot read yet).

    The events go as one JSON array: json_array_elements hands back each element's text as
    sent (json, not jsonb), and one string costs the driver nothing to escape, unlike a
    text[] of a thousand payloads."""
    if conn.dialect.name != "postgresql" or not events:
        return
    conn.execute(
        text(
            "SELECT pg_notify(:channel, e::text) FROM json_array_elements(CAST(:events AS json)) e"
        ),
        {"channel": FILLS_CHANNEL, "events": json.dumps(events)},
    )


def leader_maker_fills(conn: Connection, since: datetime | None = None) -> list[dict]:
    """Fills whose maker is a followed leader: each is one of the leader's own orders (the
    counting rule), block time `since` or later. Joined in the database, so it costs the
    same for 25,000 leaders as for one."""
    query = (
        select(fills)
        .join(leaders, fills.c.maker == leaders.c.address)
        .order_by(fills.c.block_number, fills.c.log_index)
    )
    if since is not None:
        query = query.where(fills.c.block_timestamp >= since)
    return [dict(row._mapping) for row in conn.execute(query)]


def fill_keys(conn: Connection, exchange: str | None = None) -> set[tuple[int, str, int]]:
    """Identities of stored fills, for completeness checks."""
    query = select(fills.c.chain_id, fills.c.tx_hash, fills.c.log_index)
    if exchange is not None:
        query = query.where(fills.c.exchange == exchange)
    return {tuple(row) for row in conn.execute(query)}


FillKey = tuple[int, str, int]


def fill_versions(
    conn: Connection, exchanges: Sequence[str], from_block: int, to_block: int
) -> dict[FillKey, tuple]:
    """(chain_id, tx_hash, log_index) -> (block_number, block_hash, has a timestamp, maker,
    taker) of the stored fills of `exchanges` in [from_block, to_block]: compared before and
    after a reconciliation, what it found, wrote and retracted in each part of the range."""
    query = (
        select(
            fills.c.chain_id,
            fills.c.tx_hash,
            fills.c.log_index,
            fills.c.block_number,
            fills.c.block_hash,
            fills.c.block_timestamp.is_not(None),
            fills.c.maker,
            fills.c.taker,
        )
        .where(fills.c.exchange.in_(list(exchanges)))
        .where(fills.c.block_number.between(from_block, to_block))
    )
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in conn.execute(query)}


def stored_block_hash(conn: Connection, key: FillKey) -> str | None:
    """The block hash a fill is stored with; None when it is not stored."""
    chain_id, tx_hash, log_index = key
    return conn.execute(
        select(fills.c.block_hash)
        .where(fills.c.chain_id == chain_id)
        .where(fills.c.tx_hash == tx_hash)
        .where(fills.c.log_index == log_index)
    ).scalar_one_or_none()


def fetch_fills(conn: Connection, keys: Sequence[str] | None = None) -> list[dict]:
    """All stored fills as dicts (amounts as exact ints), ordered by chain position."""
    query = select(fills).order_by(fills.c.block_number, fills.c.log_index)
    if keys:
        query = query.where(fills.c.tx_hash.in_(keys))
    return [dict(row._mapping) for row in conn.execute(query)]
