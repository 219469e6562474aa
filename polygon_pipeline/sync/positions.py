"""Every followed leader's positions, computed from the store (no RPC): the transfers to or
from each leader, the fills it made and the resolutions found (positions/ledger.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from polygon_pipeline.positions.ledger import Position, leader_positions
from polygon_pipeline.store.fills_repo import leader_maker_fills
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.markets_repo import market_labels
from polygon_pipeline.store.resolutions_repo import token_resolutions
from polygon_pipeline.store.transfers_repo import leader_transfers
from polygon_pipeline.sync.context import ClobContext


def all_positions(
    engine: Engine, only: Sequence[str] | None = None, prices: ClobContext | None = None
) -> list[Position]:
    """Positions of the followed leaders (`only`: these of them), by leader then token, with
    their market's question and outcome where `markets sync` knows the token; with `prices`,
    each open position not resolved gets its CLOB midpoint as its price (one request per
    token, under the CLOB budget)."""
    with engine.connect() as conn:
        leaders = [a for a in list_leaders(conn) if only is None or a in set(only)]
        transfers = leader_transfers(conn, leaders)
        fills = leader_maker_fills(conn)
        resolved = token_resolutions(conn)
        labels = market_labels(conn, {int(r["token_id"]) for r in transfers})
    by_leader: dict[str, list[dict]] = defaultdict(list)
    for row in transfers:
        for wallet in {row["sender"], row["receiver"]} & set(leaders):
            by_leader[wallet].append(row)
    fills_of: dict[str, list[dict]] = defaultdict(list)
    for f in fills:
        fills_of[f["maker"]].append(f)
    found = [
        p
        for leader in sorted(leaders)
        for p in leader_positions(leader, by_leader[leader], fills_of[leader], resolved)
    ]
    for p in found:
        p.question, p.outcome = labels.get(p.token_id, (None, None))
    if prices is not None:
        unpriced = sorted({p.token_id for p in found if p.size > 0 and p.price is None})
        mids = {token: prices.client.midpoint(token) for token in unpriced}
        for p in found:
            if p.price is None and mids.get(p.token_id) is not None:
                p.price = mids[p.token_id]
    return found


def daily_pnl(positions: Sequence[Position]) -> list[dict]:
    """Realized PnL (x1e6) per leader and UTC day of the block that realized it."""
    days: dict[tuple[str, str], int] = defaultdict(int)
    for p in positions:
        for day, pnl in p.realized_by_day.items():
            days[(p.leader, day)] += pnl
    return [
        {"leader": leader, "day": day, "realized_pnl": pnl}
        for (leader, day), pnl in sorted(days.items())
    ]


@dataclass
class PositionFigures:
    """What a positions run shows: counts, totals (x1e6) and what looks wrong."""

    leaders: int
    positions: int
    open_positions: int
    realized_pnl: int
    unrealized_pnl: int
    negative: list[Position]  # a balance below zero: history missing before its start

    @classmethod
    def of(cls, positions: Sequence[Position]) -> PositionFigures:
        return cls(
            leaders=len({p.leader for p in positions}),
            positions=len(positions),
            open_positions=sum(1 for p in positions if p.size > 0),
            realized_pnl=sum(p.cost.realized_pnl for p in positions),
            unrealized_pnl=sum(p.unrealized_pnl or 0 for p in positions),
            negative=[p for p in positions if p.size < 0],
        )
