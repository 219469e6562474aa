"""Which provider filled each reconciled range, and which audited it (`range_providers`).

Reconciliation records a row per chunk, in the chunk's own transaction; the audit marks the
rows of the range it re-read. Rows of one exchange filled by the same providers that touch
and are not audited yet are merged as they are written, so a backfill adds one row, not one
per chunk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, delete, insert, select, update

from polygon_pipeline.store.schema import range_providers


def provider_list(labels: Iterable[str]) -> str:
    return ",".join(sorted(set(labels)))


def record_filled(
    conn: Connection, exchange: str, from_block: int, to_block: int, labels: Iterable[str]
) -> None:
    """Blocks [from_block, to_block] of `exchange` were just read from these providers."""
    filled_by = provider_list(labels)
    if not filled_by:
        return  # nothing was asked (no venue trades there): nobody to audit
    lo, hi = from_block, to_block
    c = range_providers.c
    touching = and_(
        c.exchange == exchange,
        c.filled_by == filled_by,
        c.audited_by.is_(None),
        c.from_block <= hi + 1,
        c.to_block >= lo - 1,
    )
    ids = []
    for row_id, a, b in conn.execute(select(c.id, c.from_block, c.to_block).where(touching)):
        ids.append(row_id)
        lo, hi = min(lo, a), max(hi, b)
    if ids:
        conn.execute(delete(range_providers).where(c.id.in_(ids)))
    conn.execute(
        insert(range_providers).values(
            exchange=exchange,
            from_block=lo,
            to_block=hi,
            filled_by=filled_by,
            filled_at=datetime.now(tz=UTC),
        )
    )


@dataclass(frozen=True)
class RangeProviders:
    exchange: str
    from_block: int
    to_block: int
    filled_by: tuple[str, ...]
    audited_by: str | None
    audit_result: str | None


def ranges_in(
    conn: Connection, exchanges: Sequence[str], from_block: int, to_block: int
) -> list[RangeProviders]:
    """The rows of `exchanges` that overlap [from_block, to_block], in block order."""
    c = range_providers.c
    rows = conn.execute(
        select(c.exchange, c.from_block, c.to_block, c.filled_by, c.audited_by, c.audit_result)
        .where(c.exchange.in_(list(exchanges)))
        .where(c.from_block <= to_block, c.to_block >= from_block)
        .order_by(c.from_block, c.id)
    )
    return [RangeProviders(r[0], r[1], r[2], tuple(r[3].split(",")), r[4], r[5]) for r in rows]


def fillers(conn: Connection, exchanges: Sequence[str], from_block: int, to_block: int) -> set[str]:
    """Every provider that filled some block of [from_block, to_block]."""
    return {p for row in ranges_in(conn, exchanges, from_block, to_block) for p in row.filled_by}


def record_audit(
    conn: Connection,
    exchanges: Sequence[str],
    from_block: int,
    to_block: int,
    audited_by: str,
    result: str,
) -> None:
    """The audit of [from_block, to_block] by `audited_by`, on every row it overlaps. (Blocks
    reconciled before 0007 have no row: their audit is reported, not recorded.)"""
    c = range_providers.c
    conn.execute(
        update(range_providers)
        .where(c.exchange.in_(list(exchanges)))
        .where(c.from_block <= to_block, c.to_block >= from_block)
        .values(audited_by=audited_by, audit_result=result, audited_at=datetime.now(tz=UTC))
    )
