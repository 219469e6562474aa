"""The chain identity row: which chain (id and genesis block hash) the store was filled from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from polygon_pipeline.store.schema import chain_identity, fills
from polygon_pipeline.store.upsert import insert_on_conflict

_ROW_ID = 1


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis_hash: str

    def __str__(self) -> str:
        return f"chain {self.chain_id} (genesis {self.genesis_hash[:10]}…)"


def recorded(conn: Connection) -> ChainIdentity | None:
    row = conn.execute(
        select(chain_identity.c.chain_id, chain_identity.c.genesis_hash).where(
            chain_identity.c.id == _ROW_ID
        )
    ).first()
    return None if row is None else ChainIdentity(row.chain_id, row.genesis_hash)


def record(conn: Connection, identity: ChainIdentity) -> ChainIdentity:
    """Record `identity` unless one is recorded already (two processes starting together on
    a new store: the first wins); returns what is recorded now."""
    stmt = insert_on_conflict(conn, chain_identity).values(
        id=_ROW_ID,
        chain_id=identity.chain_id,
        genesis_hash=identity.genesis_hash,
        recorded_at=datetime.now(tz=UTC),
    )
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
    return recorded(conn)


def oldest_fill_block(conn: Connection) -> tuple[int, str] | None:
    """(block number, block hash) of the oldest stored fill: the one most surely final, to
    check a store filled before identities were recorded against the chain it is used with."""
    row = conn.execute(
        select(fills.c.block_number, fills.c.block_hash)
        .order_by(fills.c.block_number, fills.c.log_index)
        .limit(1)
    ).first()
    return None if row is None else (row.block_number, row.block_hash)
