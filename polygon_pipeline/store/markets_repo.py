"""Markets: which token ids to look up, the outcomes Gamma gave, and the ids to try again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import Connection, case, delete, func, select, union_all

from polygon_pipeline.gamma.markets import OPEN, MarketOutcome
from polygon_pipeline.gamma.position_ids import V2_LEDGERS, V2_VENUES
from polygon_pipeline.store.schema import fills, market_misses, markets, position_transfers
from polygon_pipeline.store.upsert import ROWS_PER_STATEMENT, insert_on_conflict

MISS_FIRST_WAIT_S = 60.0  # an unknown id is tried again after this, doubling each time
MISS_WAIT_CAP_S = 86_400.0


def tokens_to_look_up(conn: Connection, now: datetime, refresh_before: datetime) -> dict[int, bool]:
    """Token id -> whether it is a Protocol V2 position id (traded on ExchangeV3, or moved
    on the PositionManager), for every token of a stored trade or a leader's position
    transfer that is not known yet, or whose market is open and was looked up before
    `refresh_before`; less the misses not due again until after `now`."""
    settled = select(markets.c.token_id).where(
        (markets.c.state != OPEN) | (markets.c.looked_up_at >= refresh_before)
    )
    waiting = select(market_misses.c.token_id).where(market_misses.c.next_try_at > now)
    traded = select(
        fills.c.token_id.label("token_id"),
        case((fills.c.venue.in_(sorted(V2_VENUES)), 1), else_=0).label("v2"),
    ).where(fills.c.side.is_not(None))
    held = select(
        position_transfers.c.token_id.label("token_id"),
        case((position_transfers.c.ledger.in_(sorted(V2_LEDGERS)), 1), else_=0).label("v2"),
    )
    tokens = union_all(traded, held).subquery()
    query = (
        select(tokens.c.token_id, func.max(tokens.c.v2))
        .where(tokens.c.token_id.not_in(settled))
        .where(tokens.c.token_id.not_in(waiting))
        .group_by(tokens.c.token_id)
    )
    return {int(token): bool(v2) for token, v2 in conn.execute(query)}


def save_outcomes(conn: Connection, outcomes: Sequence[MarketOutcome], now: datetime) -> int:
    """Store (or refresh) outcomes; their ids are no longer misses. Returns how many."""
    rows = list({o.token_id: {**asdict(o), "looked_up_at": now} for o in outcomes}.values())
    for at in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[at : at + ROWS_PER_STATEMENT]
        stmt = insert_on_conflict(conn, markets)
        stmt = stmt.on_conflict_do_update(
            index_elements=["token_id"],
            set_={c: stmt.excluded[c] for c in chunk[0] if c != "token_id"},
        )
        conn.execute(stmt, chunk)
        ids = [r["token_id"] for r in chunk]
        conn.execute(delete(market_misses).where(market_misses.c.token_id.in_(ids)))
    return len(rows)


def record_misses(conn: Connection, token_ids: Iterable[int], error: str, now: datetime) -> int:
    """Ids Gamma did not answer (unknown, or the request failed): tried again later, each
    time after twice as long (MISS_FIRST_WAIT_S up to MISS_WAIT_CAP_S)."""
    ids = sorted(set(token_ids))
    for at in range(0, len(ids), ROWS_PER_STATEMENT):
        chunk = ids[at : at + ROWS_PER_STATEMENT]
        tried = dict(
            conn.execute(
                select(market_misses.c.token_id, market_misses.c.attempts).where(
                    market_misses.c.token_id.in_(chunk)
                )
            ).all()
        )
        rows = []
        for token in chunk:
            attempts = tried.get(token, 0) + 1
            wait = min(MISS_WAIT_CAP_S, MISS_FIRST_WAIT_S * 2 ** (attempts - 1))
            rows.append(
                {
                    "token_id": token,
                    "attempts": attempts,
                    "last_error": error[:300],
                    "next_try_at": now + timedelta(seconds=wait),
                }
            )
        stmt = insert_on_conflict(conn, market_misses)
        stmt = stmt.on_conflict_do_update(
            index_elements=["token_id"],
            set_={c: stmt.excluded[c] for c in ("attempts", "last_error", "next_try_at")},
        )
        conn.execute(stmt, rows)
    return len(ids)


def market_counts(conn: Connection) -> dict[str, int]:
    """Outcome tokens known, by state, and the misses waiting to be tried again."""
    counts = {state: n for state, n in conn.execute(
        select(markets.c.state, func.count()).group_by(markets.c.state)
    )}  # fmt: skip
    counts["unknown"] = conn.execute(select(func.count()).select_from(market_misses)).scalar_one()
    return counts


def fetch_markets(conn: Connection) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(select(markets).order_by(markets.c.token_id))]


def market_labels(conn: Connection, token_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Token id -> (question, outcome) for the ids whose market is known."""
    wanted = sorted(set(token_ids))
    found: dict[int, tuple[str, str]] = {}
    for at in range(0, len(wanted), ROWS_PER_STATEMENT):
        query = select(markets.c.token_id, markets.c.question, markets.c.outcome).where(
            markets.c.token_id.in_(wanted[at : at + ROWS_PER_STATEMENT])
        )
        found |= {int(t): (q, o) for t, q, o in conn.execute(query)}
    return found
