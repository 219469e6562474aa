"""A provider's answer is checked against its request: logs the filter excludes, logs past
toBlock, removed logs and fabricated logs are a provider error (retried, then raised), never
written, in backfills (the CLI's and Dagster's) and leader histories. The watcher's side is
in test_watcher.py."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.provider_errors import ForeignAnswer
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.history import backfill_history
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.helpers.sync import leader_fills, one_store

ALL = list(EXCHANGES)
GETLOGS_FAULTS = [
    {"ignore_topic_filter": True},
    {"logs_past_to_block": 5},
    {"removed_in_getlogs": True},
    {"fabricate_logs": True},
]


def _mine_range(devnet, blocks: int, per_block: int = 10) -> tuple[int, int]:
    start = devnet.head() + 1
    end = devnet.mine(blocks=blocks, fills_per_block=per_block)["head"]
    devnet.mine(blocks=FINALITY + 6, fills_per_block=per_block)  # logs past `end` to leak
    return start, end


def _keys(ctx) -> set[tuple[str, int]]:
    with ctx.engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


@one_store
@pytest.mark.parametrize("fault", GETLOGS_FAULTS, ids=lambda f: next(iter(f)))
def test_a_backfill_writes_nothing_of_an_untrusted_answer(devnet, make_ctx, leaders, fault):
    start, end = _mine_range(devnet, 8)
    ctx = make_ctx(leaders, backfill_max_range=4)
    devnet.configure(**fault)
    with pytest.raises(ForeignAnswer, match="the answer holds a log the request excludes"):
        reconcile(ctx, ALL, start, end)
    assert _keys(ctx) == set()
    with ctx.engine.connect() as conn:
        assert all(get_cursor(conn, e) is None for e in ALL)  # no coverage, no cursor
    devnet.configure(**{k: Policy().as_dict()[k] for k in fault})
    reconcile(ctx, ALL, start, end)
    assert _keys(ctx) == leader_fills(devnet.truth(start, end), set(leaders))


@one_store
def test_a_leader_history_writes_nothing_of_an_untrusted_answer(devnet, make_ctx, leaders):
    start, end = _mine_range(devnet, 8)
    ctx = make_ctx(leaders[:1])
    with ctx.engine.begin() as conn:
        add_leaders(conn, leaders[1:2], history_from_block=start)
    reconcile(ctx, ALL, end, end)  # where the history stops
    before = _keys(ctx)
    devnet.configure(ignore_topic_filter=True)
    with pytest.raises(ForeignAnswer):
        backfill_history(ctx)
    assert _keys(ctx) == before
