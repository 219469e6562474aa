"""`backfill --dry-run` and history by date, as a user runs them, against the devnet: the
dry run's calls are the calls the backfill then makes, counted by the emulated provider;
a date becomes the first block at or after it in a handful of header calls."""

from __future__ import annotations

import bisect
import re
import time
from datetime import UTC, datetime

from polygon_pipeline.chain.block_at_time import first_block_at_time
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import wanted_histories
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.rpc import call, date_search_bound
from polygon_pipeline_tests.helpers.sync import environment, one_store

FINALITY = 16  # the devnet's finality depth
V3_FIRST_BLOCK = 100  # ExchangeV3's first block on the devnet (POLYGON_VENUE_BLOCKS)


def predicted_calls(stdout: str) -> int:
    return int(re.search(r"eth_getLogs calls: ([\d,]+) =", stdout)[1].replace(",", ""))


def getlogs(devnet) -> int:
    return devnet.stats()["calls"].get("eth_getLogs", 0)


@one_store
def test_the_dry_run_predicts_the_backfills_calls_and_makes_none(devnet, db_url):
    env = environment(devnet, db_url, backfill_max_range=7, leader_batch_size=2)
    leaders = devnet.info()["leaders"]
    assert run_cli("leaders", "add", *leaders, env=env).returncode == 0
    head = devnet.mine(blocks=V3_FIRST_BLOCK + 40, fills_per_block=1)["head"]
    first, last = 0, head - FINALITY  # from genesis: ExchangeV3's chunks before it cost nothing
    batches = -(-len(leaders) // 2)
    predicted: dict[str, int] = {}
    for exchange in ("v3", "all"):
        devnet.reset_stats()
        dry = backfill(env, "--exchange", exchange, "--dry-run", "--from-block", str(first),
                       "--to-block", str(last))  # fmt: skip
        assert devnet.stats()["calls_total"] == 0  # both ends given: not one call
        assert "provider calls made for this estimate: 0" in dry
        assert f"x 2 role(s) (maker+taker, POLYGON_FOLLOW_ROLES) x {batches} batch(es)" in dry
        assert "ranges adapt" in dry
        assert "not counted: one eth_getBlockByHash per block holding a leader fill" in dry
        predicted[exchange] = predicted_calls(dry)
        backfill(env, "--exchange", exchange, "--from-block", str(first), "--to-block", str(last))
        assert getlogs(devnet) == predicted[exchange] > 0
    assert predicted["v3"] < predicted["all"]  # the chunks before ExchangeV3 cost nothing

    five = backfill(
        env, "--dry-run", "--leaders", "5", "--from-block", "0", "--to-block", str(last)
    )
    assert predicted_calls(five) == predicted["all"] // batches * 3  # 5 leaders: 3 batches

    devnet.reset_stats()
    to_head = backfill(env, "--dry-run", "--from-block", str(first))
    assert getlogs(devnet) == 0
    assert f"provider calls made for this estimate: {devnet.stats()['calls_total']} " in to_head
    assert f"blocks {first}..{last} " in to_head  # up to the finalized head


def backfill(env: dict[str, str], *args: str) -> str:
    out = run_cli("backfill", *args, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def mine_seconds_apart(devnet, bursts: int) -> None:
    """Blocks with distinct timestamps: a few blocks a second, a second apart."""
    for _ in range(bursts):
        devnet.mine(blocks=3)
        time.sleep(1.05)


def chain_timestamps(devnet) -> list[int]:
    """Every block's timestamp, straight from anvil (not through the emulator's counters)."""
    head = int(call(devnet.anvil_url, "eth_blockNumber").json()["result"], 16)
    return [
        int(
            call(devnet.anvil_url, "eth_getBlockByNumber", [hex(n), False]).json()["result"][
                "timestamp"
            ],
            16,
        )
        for n in range(head + 1)
    ]


def utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_a_date_is_the_first_block_at_or_after_it_in_a_few_calls(devnet, make_ctx):
    mine_seconds_apart(devnet, bursts=6)
    stamps = chain_timestamps(devnet)
    ctx = make_ctx([])
    moments = sorted({stamps[len(stamps) // 2], stamps[-4], stamps[-1], stamps[1]})
    for moment in moments:
        devnet.reset_stats()
        block, calls = first_block_at_time(ctx.rpc, datetime.fromtimestamp(moment, UTC))
        assert block == bisect.bisect_left(stamps, moment)
        assert stamps[block] >= moment and (block == 0 or stamps[block - 1] < moment)
        assert calls == devnet.stats()["calls_total"] <= date_search_bound(len(stamps) - 1)
        assert set(devnet.stats()["calls"]) == {"eth_getBlockByNumber"}


@one_store
def test_history_and_backfill_from_a_date(devnet, db_url):
    mine_seconds_apart(devnet, bursts=4)
    stamps = chain_timestamps(devnet)
    moment = stamps[-5]
    expected = bisect.bisect_left(stamps, moment)
    env = devnet.pipeline_env(db_url)
    leader = devnet.info()["leaders"][0]

    added = run_cli("leaders", "add", leader, "--history-from-date", utc(moment), env=env)
    assert added.returncode == 0, added.stderr
    assert f"UTC: block {expected} (" in added.stdout
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert wanted_histories(conn, [leader]) == {leader: expected}
    engine.dispose()

    early = run_cli("backfill", "--dry-run", "--from-date", "2020-05-30", env=env)
    assert early.returncode == 0, early.stderr
    assert "--from-date 2020-05-30 00:00:00 UTC: block 0 (" in early.stdout

    late = run_cli("backfill", "--from-date", utc(stamps[-1] + 3600), env=env)
    assert late.returncode == 1
    assert late.stderr.strip() == (
        f"Error: --from-date: {utc(stamps[-1] + 3600).replace('T', ' ')} UTC is after the "
        f"chain's head, block {len(stamps) - 1} at {utc(stamps[-1]).replace('T', ' ')} UTC"
    )


def test_one_start_only_and_leaders_only_for_a_dry_run():
    both = run_cli("backfill", "--from-block", "5", "--from-date", "2026-04-28", env={})
    assert both.returncode == 2
    assert "give exactly one of --from-block N, --from-date DATE or --since-cursor" in both.stderr
    assert "(got --from-block and --from-date)" in both.stderr
    assert run_cli("backfill", env={}).returncode == 2
    count = run_cli("backfill", "--since-cursor", "--leaders", "10", env={})
    assert count.returncode == 2 and "--leaders N only sizes a --dry-run" in count.stderr
    bad = run_cli("backfill", "--from-date", "28/04/2026", env={})
    assert bad.returncode == 2 and "--from-date" in bad.stderr
    two = run_cli(
        "leaders", "add", "0x" + "ab" * 20, "--history-from-block", "1",
        "--history-from-date", "2026-04-28", env={},
    )  # fmt: skip
    assert two.returncode == 2
    assert "give --history-from-block or --history-from-date, not both" in two.stderr
