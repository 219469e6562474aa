"""The devnet follows the venue registry: every registry layout has a devnet entry whose
events the chain decoder reads back as the truth the devnet records, every registry venue is
deployed and trades in its devnet generation, and the default plan is the one the devnet
always had (V1 from genesis, the CLOB V2 cutover at block 100)."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.events import LAYOUTS
from polygon_pipeline.chain.exchanges import MAINNET_VENUES, VENUES
from polygon_pipeline.chain.fills import decode_fill
from polygon_pipeline.devnet.generator import GeneratorConfig
from polygon_pipeline.devnet.layouts import DEVNET_LAYOUTS, FillRecord, truth_terms
from polygon_pipeline.devnet.venue_plan import (
    parse_layout_blocks,
    settling_venue,
    trading_venues,
)
from polygon_pipeline_tests.helpers.rpc import order_filled_log

REGISTRY_LAYOUTS = {v.layout.name for v in MAINNET_VENUES} | set(LAYOUTS)


def test_every_registry_layout_has_a_devnet_entry_of_its_size():
    assert set(DEVNET_LAYOUTS) == REGISTRY_LAYOUTS
    record = FillRecord(bytes(32), "0x" + "11" * 20, "0x" + "22" * 20, "BUY", 5, 1, 2, 0)
    for name, entry in DEVNET_LAYOUTS.items():
        assert entry.layout is LAYOUTS[name]
        assert len(entry.words(record)) == entry.layout.data_words, name


@pytest.mark.parametrize("venue", sorted(VENUES))
@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_every_venue_s_events_decode_to_the_devnet_truth(venue, side):
    record = FillRecord(
        bytes(range(32)), "0x" + "11" * 20, "0x" + "22" * 20, side, 2**255 + 7,
        maker_amount=3_000_000, taker_amount=5_000_000, fee=30_000,
        builder=b"\xb1" * 32, metadata=b"\xe7" * 32,
    )  # fmt: skip
    words = DEVNET_LAYOUTS[VENUES[venue].layout.name].words(record)
    # the log the exchange code emits: LOG4(words, topic0, orderHash, maker, taker)
    fill = decode_fill(
        order_filled_log(venue, words, "0x" + record.order_hash.hex(), record.maker, record.taker)
    )
    truth = truth_terms(record, VENUES[venue].layout)
    for field, expected in truth.items():
        assert getattr(fill, field) == expected, field
    assert (fill.venue, fill.layout) == (venue, VENUES[venue].layout.name)


def test_every_registry_venue_is_deployed_and_trades_in_its_generation():
    config = GeneratorConfig()
    assert list(config.layout_blocks.items())[:2] == [("v1", 0), ("v2", 100)]  # as always
    deployed = {v.name: v for v in config.venues()}
    assert set(deployed) == set(VENUES)
    for v in deployed.values():
        assert (v.first_block, v.last_block) == (config.layout_blocks[v.layout.name], None)
        trades = v in trading_venues(config.venues(), v.first_block)
        assert trades == (v.events == "fills"), v.name  # ledgers hold positions, never trade
    before, after = (trading_venues(config.venues(), b) for b in (99, 100))
    assert [v.name for v in before] == ["ctf_v1", "negrisk_v1"]
    assert [v.name for v in after] == ["ctf_v2", "negrisk_v2", "v3"]


@pytest.mark.parametrize(
    ("block", "draw", "venue"),
    [(99, 0.59, "ctf_v1"), (99, 0.61, "negrisk_v1"), (99, 0.95, "negrisk_v1")]
    + [(100, 0.59, "ctf_v2"), (100, 0.89, "negrisk_v2"), (100, 0.95, "v3")],
)
def test_trades_settle_on_the_families_in_their_shares(block, draw, venue):
    """ctf 60 %, negrisk 30 %, ExchangeV3 10 % (negrisk's before ExchangeV3 exists)."""
    assert settling_venue(GeneratorConfig().venues(), block, draw).name == venue


def test_a_cutover_moves_with_its_layout():
    assert list(parse_layout_blocks("v2=70").items())[:2] == [("v1", 0), ("v2", 70)]
    assert list(parse_layout_blocks(" v1 = 0 , v2=5 ").items())[:2] == [("v1", 0), ("v2", 5)]
    config = GeneratorConfig(layout_blocks=parse_layout_blocks("v2=70"))
    assert {v.name: v.first_block for v in config.venues()}.items() >= {
        "ctf_v1": 0, "negrisk_v1": 0, "ctf_v2": 70, "negrisk_v2": 70, "v3": 70,
    }.items()  # fmt: skip


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("v9=5", "unknown layout 'v9'"),
        ("v2", "expected LAYOUT=BLOCK"),
        ("v2=-1", "expected LAYOUT=BLOCK"),
        ("v1=3", "the first layout \\(v1\\) trades from block 0"),
        ("v2=0", "must start after the layout before it"),
    ],
)
def test_a_bad_layout_plan_is_named(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_layout_blocks(text)
