"""The conditions of the leaders' positions and their resolutions (condition_resolutions)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from polygon_pipeline.chain.transfers import Resolution
from polygon_pipeline.positions.cost import SCALE
from polygon_pipeline.store.schema import condition_resolutions as cr
from polygon_pipeline.store.schema import markets
from polygon_pipeline.store.schema import position_transfers as pt
from polygon_pipeline.store.upsert import upsert


def conditions_to_search(conn: Connection) -> dict[str, int]:
    """condition id -> the first block still to search for its resolution: the conditions of
    every token the leaders moved that the markets table knows, not resolved yet, from the
    first transfer of their tokens (or past the last search)."""
    first = (
        select(markets.c.condition_id, func.min(pt.c.block_number))
        .join(pt, pt.c.token_id == markets.c.token_id)
        .group_by(markets.c.condition_id)
    )
    done = {row.condition_id: row for row in conn.execute(select(cr))}
    wanted = {}
    for condition, block in conn.execute(first):
        row = done.get(condition)
        if row is None:
            wanted[condition] = block
        elif row.block_number is None:
            wanted[condition] = row.searched_to + 1
    return wanted


def save_search(
    conn: Connection, searched: Iterable[str], searched_to: int, found: Iterable[Resolution]
) -> None:
    """Record a search of `searched` up to `searched_to`, with the resolutions it found."""
    by_id = {r.condition_id: r for r in found}
    for condition in searched:
        r = by_id.get(condition)
        values = {"condition_id": condition, "searched_to": searched_to}
        if r is not None:
            values.update(
                block_number=r.block_number,
                tx_hash=r.tx_hash,
                payouts=json.dumps([str(p) for p in r.payouts]),
            )
        conn.execute(upsert(conn, cr, values, ["condition_id"], where=cr.c.block_number.is_(None)))


def token_resolutions(conn: Connection) -> dict[int, tuple[int, int]]:
    """token id -> (resolution block, payout per token x1e6) for every known token whose
    condition resolved: numerator / sum of numerators at the token's outcome index."""
    rows = conn.execute(
        select(markets.c.token_id, markets.c.outcome_index, cr.c.block_number, cr.c.payouts)
        .join(cr, cr.c.condition_id == markets.c.condition_id)
        .where(cr.c.block_number.is_not(None))
    )
    out = {}
    for token, index, block, payouts in rows:
        numerators = [int(p) for p in json.loads(payouts)]
        total = sum(numerators)
        if total and index < len(numerators):
            out[int(token)] = (block, numerators[index] * SCALE // total)
    return out
