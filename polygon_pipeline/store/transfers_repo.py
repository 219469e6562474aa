"""Writing and reading the leaders' position transfers (position_transfers): idempotent,
one row per id of each ERC-1155 log, retracted with their block like fills."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, or_, select, tuple_

from polygon_pipeline.chain.transfers import PositionTransfer
from polygon_pipeline.store.schema import position_transfers as pt
from polygon_pipeline.store.upsert import ROWS_PER_STATEMENT, insert_on_conflict

Key = tuple[int, str, int]


def _rows(batch: Sequence[PositionTransfer], source: str, seen_at: datetime) -> list[dict]:
    return [
        {
            "chain_id": t.chain_id,
            "ledger": t.ledger,
            "block_number": t.block_number,
            "block_hash": t.block_hash,
            "block_timestamp": None
            if t.block_timestamp is None
            else datetime.fromtimestamp(t.block_timestamp, tz=UTC),
            "tx_hash": t.tx_hash,
            "log_index": t.log_index,
            "batch_index": i,
            "operator": t.operator,
            "sender": t.sender,
            "receiver": t.receiver,
            "token_id": token_id,
            "amount": amount,
            "source": source,
            "first_seen_at": seen_at,
        }
        for t in batch
        for i, (token_id, amount) in enumerate(zip(t.token_ids, t.amounts, strict=True))
    ]


def upsert_transfers(
    conn: Connection,
    batch: Iterable[PositionTransfer],
    source: str,
    seen_at: datetime | None = None,
) -> int:
    """Store transfers idempotently; return the rows inserted or moved to a new block. A
    stored row keeps its source and first sighting; its block fields follow the chain."""
    unique = list({t.key: t for t in batch}.values())
    rows = _rows(unique, source, seen_at or datetime.now(tz=UTC))
    written = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        stmt = insert_on_conflict(conn, pt).values(rows[start : start + ROWS_PER_STATEMENT])
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["chain_id", "tx_hash", "log_index", "batch_index"],
            set_={
                "block_number": new.block_number,
                "block_hash": new.block_hash,
                "block_timestamp": new.block_timestamp,
            },
            where=pt.c.block_hash != new.block_hash,
        )
        written += conn.execute(stmt).rowcount
    return written


def transfer_versions(conn: Connection, from_block: int, to_block: int) -> dict[Key, tuple]:
    """(chain_id, tx_hash, log_index) -> (block_number, block_hash) of the stored transfers in
    [from_block, to_block]: what a reconciliation checks for logs the chain no longer has."""
    query = select(
        pt.c.chain_id, pt.c.tx_hash, pt.c.log_index, pt.c.block_number, pt.c.block_hash
    ).where(pt.c.block_number.between(from_block, to_block))
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in conn.execute(query)}


def retract_transfers(conn: Connection, stale: Sequence[tuple[Key, str]]) -> int:
    """Delete the transfers of logs that left the canonical chain (identity, stale block
    hash); a log mined again in another block does not match and stays."""
    if not stale:
        return 0
    rows = [(*key, block_hash) for key, block_hash in stale]
    identity = tuple_(pt.c.chain_id, pt.c.tx_hash, pt.c.log_index, pt.c.block_hash)
    return conn.execute(delete(pt).where(identity.in_(rows))).rowcount


def leader_transfers(conn: Connection, leaders: Sequence[str] | None = None) -> list[dict]:
    """The stored transfers to or from `leaders` (all stored when None), in chain order."""
    query = select(pt).order_by(pt.c.block_number, pt.c.log_index, pt.c.batch_index)
    if leaders is not None:
        query = query.where(or_(pt.c.sender.in_(list(leaders)), pt.c.receiver.in_(list(leaders))))
    return [dict(row._mapping) for row in conn.execute(query)]
