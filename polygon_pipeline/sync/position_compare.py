"""The chain's positions against the Data API's `/positions`, for every leader: each
position the API lists must be the chain's, with the same size exactly and an average price
within POLYGON_POSITIONS_AVG_PRICE_TOLERANCE; each chain position of at least the API's
sizeThreshold must be listed. Every difference is named (docs/positions.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from polygon_pipeline.data_api.positions import SIZE_THRESHOLD, ApiPosition
from polygon_pipeline.positions.cost import SCALE
from polygon_pipeline.positions.ledger import Position
from polygon_pipeline.sync.context import ApiContext
from polygon_pipeline.sync.positions import all_positions

MAX_OFFSET = 10_000  # the API's deepest offset: a leader with more positions is cut short


@dataclass(frozen=True)
class PositionDifference:
    leader: str
    token_id: int
    what: str  # "size", "avg_price", "only on chain", "only in the Data API"
    chain: str
    api: str

    def line(self) -> str:
        return (
            f"{self.leader} {self.token_id}: {self.what} (chain {self.chain}, Data API {self.api})"
        )


@dataclass
class PositionComparison:
    leaders: int = 0
    compared: int = 0  # positions either side lists
    requests: int = 0
    differences: list[PositionDifference] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"positions of {self.leaders} leader(s): {self.compared} compared, "
            f"{len(self.differences)} difference(s), {self.requests} Data API requests"
        )


def _api_positions(ctx: ApiContext, leader: str, page: int) -> tuple[list[ApiPosition], int]:
    found: list[ApiPosition] = []
    requests = 0
    for offset in range(0, MAX_OFFSET + 1, page):
        batch = ctx.client.positions(leader, page, offset)
        requests += 1
        foreign = [p for p in batch if p.leader != leader]
        if foreign:
            raise ValueError(f"/positions for {leader} listed {foreign[0].leader}'s position")
        found += batch
        if len(batch) < page:
            break
    return found, requests


def compare_positions(ctx: ApiContext, tolerance: Decimal) -> PositionComparison:
    positions = all_positions(ctx.engine)
    report = PositionComparison(leaders=len({p.leader for p in positions}))
    ours = {(p.leader, p.token_id): p for p in positions}
    for leader in sorted({p.leader for p in positions}):
        listed, requests = _api_positions(ctx, leader, ctx.settings.data_api_page_size)
        report.requests += requests
        theirs = {(leader, p.token_id): p for p in listed}
        keys = set(theirs) | {
            k
            for k, p in ours.items()
            if k[0] == leader and Decimal(p.size) / SCALE >= SIZE_THRESHOLD
        }
        report.compared += len(keys)
        for key in sorted(keys):
            report.differences += _differences(key, ours.get(key), theirs.get(key), tolerance)
    return report


def _differences(
    key: tuple[str, int], ours: Position | None, theirs: ApiPosition | None, tolerance: Decimal
) -> list[PositionDifference]:
    leader, token = key
    if ours is None or ours.size <= 0:
        assert theirs is not None  # a key comes from one side at least
        return [PositionDifference(leader, token, "only in the Data API", "0", str(theirs.size))]
    size, avg = Decimal(ours.size) / SCALE, Decimal(ours.cost.avg_price) / SCALE
    if theirs is None:
        return [PositionDifference(leader, token, "only on chain", str(size), "not listed")]
    out = []
    if theirs.size != size:
        out.append(PositionDifference(leader, token, "size", str(size), str(theirs.size)))
    if abs(theirs.avg_price - avg) > tolerance:
        out.append(PositionDifference(leader, token, "avg_price", str(avg), str(theirs.avg_price)))
    return out
