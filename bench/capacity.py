"""Capacity table: what a backfill of mainnet history costs, made with the dry run's own
planning code (sync/backfill_estimate.py), offline: leaders (10, 100, 1,000) x history (a
day, a month, since the CLOB V2 cutover, since 2020) x provider range cap (10, 2,000
blocks) at 25 requests/s, default batch (100 leaders) and both roles.

Block numbers are assumed, not asked: the head is counted at ~2 s blocks from the last V1
fill (block 86,126,998 at 2026-04-28 11:00:40 UTC, docs/chain.md / DESIGN "Chain facts") to
AS_OF; "since the V2 cutover" starts at the first V2 fill, block 85,050,371; "since 2020"
at block 0 (Polygon's chain start, 2020-05-30), where chunks before the first venue
(block 33,605,403) cost no call.

    .venv/bin/python -m bench.capacity
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from bench.common import markdown_table
from polygon_pipeline.chain.block_at_time import POLYGON_BLOCK_SECONDS
from polygon_pipeline.chain.exchanges import EXCHANGES, venues_of
from polygon_pipeline.settings import Settings
from polygon_pipeline.sync.backfill_estimate import BackfillEstimate, duration, estimate

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
LAST_V1_FILL = (86_126_998, datetime(2026, 4, 28, 11, 0, 40, tzinfo=UTC))
FIRST_V2_FILL = 85_050_371
DAY_BLOCKS = round(86_400 / POLYGON_BLOCK_SECONDS)
LEADERS = (10, 100, 1_000)
RANGE_CAPS = (10, 2_000)
RPS = 25


def assumed_head() -> int:
    block, at = LAST_V1_FILL
    return block + round((AS_OF - at).total_seconds() / POLYGON_BLOCK_SECONDS)


def histories(head: int) -> dict[str, int]:
    """First block of each history."""
    return {
        "a day": head - DAY_BLOCKS + 1,
        "a month": head - 30 * DAY_BLOCKS + 1,
        "since the V2 cutover": FIRST_V2_FILL,
        "since 2020": 0,
    }


def cell(found: BackfillEstimate) -> str:
    return f"{found.calls:,} calls, {duration(found.seconds)}"


def main() -> None:
    for key in [k for k in os.environ if k.startswith("POLYGON_")]:
        del os.environ[key]  # the defaults, whatever this shell has set
    head = assumed_head()
    venues = venues_of(EXCHANGES)
    found: dict[tuple[str, int, int], BackfillEstimate] = {}
    for name, first in histories(head).items():
        for cap in RANGE_CAPS:
            settings = Settings(backfill_max_range=cap, rpc_max_rps=RPS)
            for n in LEADERS:
                found[name, cap, n] = estimate(settings, venues, [(first, head)], n)
    print(
        f"head assumed at block {head:,} ({AS_OF:%Y-%m-%d}), {RPS} requests/s, "
        f"{settings.rpc_in_flight} in flight, batches of {settings.leader_batch_size} "
        f"leaders, roles {settings.follow_roles}\n"
    )
    rows = [
        [f"{name} ({head - first + 1:,} blocks)", f"{cap:,}"]
        + [cell(found[name, cap, n]) for n in LEADERS]
        for name, first in histories(head).items()
        for cap in RANGE_CAPS
    ]
    print(markdown_table(["history", "range cap", *(f"{n:,} leaders" for n in LEADERS)], rows))
    print("\nThe README's shape (10 leaders cost what 100 do: one batch):\n")
    columns = [(n, cap) for n in LEADERS[1:] for cap in reversed(RANGE_CAPS)]
    readme = [
        [name] + [cell(found[name, cap, n]) for n, cap in columns] for name in histories(head)
    ]
    header = ["history", *(f"{n:,} leaders, {cap:,} blocks" for n, cap in columns)]
    print(markdown_table(header, readme))


if __name__ == "__main__":
    main()
