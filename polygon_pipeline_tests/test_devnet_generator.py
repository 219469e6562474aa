"""The trade generator loses nothing and its truth is exactly what is on chain."""

from __future__ import annotations

import time

from polygon_pipeline.chain.exchanges import EXCHANGES, MAINNET_VENUES, VENUES
from polygon_pipeline_tests.helpers.devnet_plan import generation_spans
from polygon_pipeline_tests.helpers.rpc import get_logs


def _identities(logs: list[dict]) -> set[tuple[str, int]]:
    return {(log["transactionHash"], int(log["logIndex"], 16)) for log in logs}


def test_a_burst_of_transactions_loses_nothing(devnet):
    start = devnet.head() + 1
    result = devnet.mine(blocks=2, fills_per_block=400)  # ~100+ transactions a block
    assert result["fills"] >= 800
    on_chain = get_logs(devnet.anvil_url, start, result["head"])
    truth = devnet.truth(start, result["head"])
    assert len(truth) == result["fills"] == len(on_chain)
    assert _identities(on_chain) == {(r["tx_hash"], r["log_index"]) for r in truth}


def test_trades_cover_both_exchanges_both_roles_and_multi_fill_matches(devnet, leaders):
    start = devnet.head() + 1
    end = devnet.mine(blocks=10, fills_per_block=12)["head"]
    truth = devnet.truth(start, end)
    lead = set(leaders)
    assert {"ctf", "negrisk"} <= {r["exchange"] for r in truth} <= set(EXCHANGES)
    assert any(r["maker"] in lead for r in truth)
    assert any(r["taker"] in lead for r in truth)
    per_tx: dict[str, int] = {}
    for r in truth:
        per_tx[r["tx_hash"]] = per_tx.get(r["tx_hash"], 0) + 1
    assert max(per_tx.values()) >= 3  # a match: maker fills plus the taker fill
    # the taker order's own fill names the exchange as taker, as the real contracts do
    assert any(r["taker"] in {v.address for v in MAINNET_VENUES} for r in truth)
    assert any(r["maker_asset_id"] > 2**200 or r["taker_asset_id"] > 2**200 for r in truth)


def test_every_registry_venue_trades_in_its_generation(devnet):
    """A venue trades from its layout's start until a newer venue of its family starts
    (each family on its newest venue), with its layout's event, and every venue of the
    registry trades; V2 is matchOrders only (no operator fillOrder: the taker fill's taker is
    the exchange), fees in collateral, builder words set."""
    starts = devnet.info()["layout_blocks"]
    assert set(starts) == {v.layout.name for v in MAINNET_VENUES}
    spans = generation_spans(devnet)
    truth = devnet.truth(1, max(end for _, end in spans.values()))
    for row in truth:
        venue, block = VENUES[row["venue"]], row["block_number"]
        begun = starts[venue.layout.name]
        newer = [
            v.name
            for v in MAINNET_VENUES
            if v.exchange == venue.exchange and begun < starts[v.layout.name] <= block
        ]
        assert begun <= block and not newer, (venue.name, block, newer)
        assert row["layout"] == venue.layout.name
    assert {r["venue"] for r in truth} == {v.name for v in MAINNET_VENUES if v.events == "fills"}
    v2 = [r for r in truth if r["layout"] == "v2"]
    assert {r["fee_asset"] for r in v2} == {"collateral"}
    own_fills = [r for r in v2 if r["taker"] == VENUES[r["venue"]].address]
    assert len({r["tx_hash"] for r in own_fills}) == len({r["tx_hash"] for r in v2})
    assert any(int(r["builder"], 16) for r in v2)


def test_block_clock_mines_on_its_own(devnet):
    before = devnet.head()
    devnet.set_clock(0.2)
    time.sleep(1.5)
    devnet.set_clock(None)
    after = devnet.head()
    assert 4 <= after - before <= 9
    time.sleep(0.5)
    assert devnet.head() == after  # stopped


def test_reorg_replaces_blocks_and_the_truth_follows(devnet):
    start = devnet.head() + 1
    end = devnet.mine(blocks=5, fills_per_block=6)["head"]
    old = {(r["tx_hash"], r["log_index"]) for r in devnet.truth(start, end)}
    result = devnet.reorg(2)
    assert result["fork_point"] == end - 2
    assert devnet.head() == end
    truth = devnet.truth(start, end)
    on_chain = get_logs(devnet.anvil_url, start, end)
    assert _identities(on_chain) == {(r["tx_hash"], r["log_index"]) for r in truth}
    kept = {(r["tx_hash"], r["log_index"]) for r in truth if r["block_number"] <= end - 2}
    assert kept <= old
    replaced = {(r["tx_hash"], r["log_index"]) for r in truth if r["block_number"] > end - 2}
    assert replaced and not (replaced & old)
