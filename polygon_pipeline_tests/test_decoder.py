"""The hand decoder against web3's own ABI decoding of each event layout, on real logs from
anvil on both sides of every cutover and from every venue; known logs decoded exactly; bad
logs named."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from web3 import Web3

from polygon_pipeline.chain.events import LAYOUT_BY_TOPIC, LAYOUTS, V1, V2
from polygon_pipeline.chain.exchanges import VENUES
from polygon_pipeline.chain.fills import Fill, MalformedLog, decode_fill
from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline_tests.helpers.devnet_plan import generation_spans
from polygon_pipeline_tests.helpers.rpc import get_logs, logs_filter, order_filled_log

# The normalized field each ABI input is (V1 names the assets; V2 the side and the token):
# a layout's inputs of these names are checked, whichever layout it is.
_FIELD_OF = {
    "makerAssetId": "maker_asset_id",
    "takerAssetId": "taker_asset_id",
    "tokenId": "token_id",
    "makerAmountFilled": "maker_amount",
    "takerAmountFilled": "taker_amount",
    "fee": "fee",
}


def _web3_decoded(devnet, start: int, end: int) -> dict[tuple[str, int], dict]:
    w3 = Web3(Web3.HTTPProvider(devnet.anvil_url))
    events = {
        topic: w3.eth.contract(abi=[layout.abi]).events.OrderFilled()
        for topic, layout in LAYOUT_BY_TOPIC.items()
    }
    query = logs_filter(start, end)
    formatted = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": end,
            "address": [Web3.to_checksum_address(a) for a in query["address"]],
        }
    )
    return {
        (f["transactionHash"].to_0x_hex(), f["logIndex"]): {
            **events[f["topics"][0].to_0x_hex()].process_log(f)["args"],
            "topic0": f["topics"][0].to_0x_hex(),
        }
        for f in formatted
    }


def test_decoder_matches_web3_and_the_ground_truth_in_every_layout_and_venue(devnet):
    spans = generation_spans(devnet)  # each layout's, until all its venues have traded
    cutovers = [(s - 3, s + 1) for s in devnet.info()["layout_blocks"].values() if s > 0]
    layouts_seen, venues_seen = set(), set()
    for start, end in [*cutovers, *spans.values()]:
        raw = get_logs(devnet.anvil_url, start, end)
        truth = {(r["tx_hash"], r["log_index"]): r for r in devnet.truth(start, end)}
        assert len(raw) == len(truth) > 0
        by_web3 = _web3_decoded(devnet, start, end)
        for log in raw:
            fill = decode_fill(log)
            ref = by_web3[(fill.tx_hash, fill.log_index)]
            layouts_seen.add(fill.layout)
            venues_seen.add(fill.venue)
            assert LAYOUT_BY_TOPIC[ref["topic0"]].name == fill.layout
            assert (fill.maker, fill.taker) == (ref["maker"].lower(), ref["taker"].lower())
            assert fill.order_hash == "0x" + ref["orderHash"].hex()
            for theirs, ours in _FIELD_OF.items():
                assert theirs not in ref or getattr(fill, ours) == ref[theirs], ours
            if "side" in ref:
                assert fill.side == ("BUY", "SELL")[ref["side"]]
            for word in ("builder", "metadata"):
                assert getattr(fill, word) == ("0x" + ref[word].hex() if word in ref else None)
            expected = truth[(fill.tx_hash, fill.log_index)]
            for field in (
                "exchange", "venue", "layout", "block_timestamp", "block_hash", "side",
                "token_id", "maker_asset_id", "taker_asset_id", "collateral_amount",
                "token_amount", "fee", "fee_asset", "builder", "metadata",
            ):  # fmt: skip
                assert getattr(fill, field) == expected[field], field
    assert layouts_seen == set(LAYOUTS)
    assert venues_seen == {name for name, v in VENUES.items() if v.events == "fills"}


V1_BUY = order_filled_log("ctf_v1", [0, 2**256 - 1, 5_000_000, 10_000_000, 3])
V2_SELL = order_filled_log("negrisk_v2", [1, 2**256 - 1, 10_000_000, 5_000_000, 3, 0xB1, 0xE7])
COMMON = {
    "chain_id": 137,
    "block_number": 16,
    "block_hash": "0x" + "aa" * 32,
    "block_timestamp": None,
    "tx_hash": "0x" + "bb" * 32,
    "log_index": 2,
    "order_hash": "0x" + "cc" * 32,
    "maker": "0x" + "11" * 20,
    "taker": "0x" + "22" * 20,
    "token_id": 2**256 - 1,
    "fee": 3,
}


def test_the_layout_is_read_from_the_log_not_assumed_from_the_venue():
    """A venue found emitting the other known layout is still decoded right."""
    v2_at_a_v1_venue = decode_fill({**V2_SELL, "address": VENUES["ctf_v1"].address})
    assert (v2_at_a_v1_venue.venue, v2_at_a_v1_venue.layout) == ("ctf_v1", "v2")
    assert v2_at_a_v1_venue.side == "SELL" and v2_at_a_v1_venue.builder is not None


def test_decoder_reads_known_logs_of_each_layout_exactly():
    assert decode_fill(V1_BUY) == Fill(
        **COMMON,
        exchange="ctf",
        venue="ctf_v1",
        layout="v1",
        side="BUY",
        maker_asset_id=0,
        taker_asset_id=2**256 - 1,
        maker_amount=5_000_000,
        taker_amount=10_000_000,
        fee_asset="token",
    )
    assert decode_fill(V2_SELL) == Fill(
        **COMMON,
        exchange="negrisk",
        venue="negrisk_v2",
        layout="v2",
        side="SELL",
        maker_asset_id=2**256 - 1,
        taker_asset_id=0,
        maker_amount=10_000_000,
        taker_amount=5_000_000,
        fee_asset="collateral",
        builder="0x" + f"{0xB1:064x}",
        metadata="0x" + f"{0xE7:064x}",
    )


@pytest.mark.parametrize(
    ("log", "change", "complaint"),
    [
        (V1_BUY, {"address": "0x" + "99" * 20}, "not a known exchange"),
        (V1_BUY, {"topics": V1_BUY["topics"][:3]}, "4 topics"),
        (V1_BUY, {"topics": ["0x" + "00" * 32, *V1_BUY["topics"][1:]]}, "not a known OrderFilled"),
        (V1_BUY, {"topics": [V2.topic0, *V1_BUY["topics"][1:]]}, "224 bytes"),  # V2 topic, V1 data
        (V2_SELL, {"topics": [V1.topic0, *V2_SELL["topics"][1:]]}, "160 bytes"),
        (V1_BUY, {"data": V1_BUY["data"][:-2]}, "160 bytes"),
        (V2_SELL, {"data": V1_BUY["data"]}, "224 bytes"),
        (V2_SELL, {"data": "0x" + f"{2:064x}" + V2_SELL["data"][66:]}, "side must be 0 or 1"),
        (V1_BUY, {"data": "0x" + "zz" * 160}, "malformed"),
        (V1_BUY, {"blockNumber": None}, "blockNumber"),
        (V1_BUY, {"transactionHash": "0x12"}, "transactionHash"),
    ],
)
def test_decoder_names_what_is_wrong(log, change, complaint):
    with pytest.raises(MalformedLog, match=complaint):
        decode_fill({**log, **change})


def _row(fill: Fill) -> dict:
    return {
        "side": fill.side,
        "token_id": fill.token_id,
        "collateral_amount": fill.collateral_amount,
        "token_amount": fill.token_amount,
    }


def test_trade_view_is_the_same_in_both_layouts():
    buy = trade_of(_row(decode_fill(V1_BUY)))  # gives 5 collateral for 10 tokens
    assert (buy.side, buy.price, buy.size, buy.collateral) == (
        "BUY",
        Decimal("0.5"),
        Decimal(10),
        Decimal(5),
    )
    sell = trade_of(_row(decode_fill(V2_SELL)))  # gives 10 tokens for 5 collateral
    assert (sell.side, sell.token_id, sell.price, sell.size, sell.collateral) == (
        "SELL",
        2**256 - 1,
        Decimal("0.5"),
        Decimal(10),
        Decimal(5),
    )
    thirds = replace(decode_fill(V1_BUY), maker_amount=1_000_000, taker_amount=3_000_000)
    assert str(trade_of(_row(thirds)).price) == "0." + "3" * 40  # 40 significant digits
    tokens_for_tokens = decode_fill(order_filled_log("ctf_v1", [7, 9, 1, 1, 0]))
    assert tokens_for_tokens.side is None and trade_of(_row(tokens_for_tokens)) is None


_ERC1155 = [
    {
        "anonymous": False,
        "name": name,
        "type": "event",
        "inputs": [
            {"indexed": True, "name": "operator", "type": "address"},
            {"indexed": True, "name": "from", "type": "address"},
            {"indexed": True, "name": "to", "type": "address"},
            {"indexed": False, "name": ids, "type": kind},
            {"indexed": False, "name": values, "type": kind},
        ],
    }
    for name, ids, values, kind in (
        ("TransferSingle", "id", "value", "uint256"),
        ("TransferBatch", "ids", "values", "uint256[]"),
    )
]  # fmt: skip (the OpenZeppelin IERC1155 events)


def test_transfer_decoder_matches_web3_on_both_ledgers(devnet):
    """Every ERC-1155 log the devnet's ledgers emitted through both generations, decoded by
    the hand decoder and by web3's ABI decoding: the same operator, from, to, ids, amounts."""
    from polygon_pipeline.chain.leader_logs import decode_leader_log

    end = max(hi for _, hi in generation_spans(devnet).values())
    w3 = Web3(Web3.HTTPProvider(devnet.anvil_url))
    contract = w3.eth.contract(abi=_ERC1155)
    events = {e.topic: e for e in (contract.events.TransferSingle, contract.events.TransferBatch)}
    ledgers = [VENUES["ctf_ledger"].address, VENUES["pm_ledger"].address]
    logs = w3.eth.get_logs({
        "fromBlock": 0, "toBlock": end, "topics": [list(events)],
        "address": [Web3.to_checksum_address(a) for a in ledgers],
    })  # fmt: skip
    seen = set()
    for raw in logs:
        ref = events[raw["topics"][0].to_0x_hex()].process_log(raw)["args"]
        plain = {
            "address": raw["address"], "topics": [t.to_0x_hex() for t in raw["topics"]],
            "data": raw["data"].to_0x_hex(), "blockNumber": hex(raw["blockNumber"]),
            "blockHash": raw["blockHash"].to_0x_hex(),
            "transactionHash": raw["transactionHash"].to_0x_hex(), "logIndex": hex(raw["logIndex"]),
        }  # fmt: skip
        ours = decode_leader_log(plain)
        ids = ref["ids"] if "ids" in ref else [ref["id"]]
        values = ref["values"] if "values" in ref else [ref["value"]]
        assert (ours.operator, ours.sender, ours.receiver) == (
            ref["operator"].lower(),
            ref["from"].lower(),
            ref["to"].lower(),
        )
        assert (list(ours.token_ids), list(ours.amounts)) == (list(ids), list(values))
        seen.add((ours.ledger, len(ids) > 1))
    assert seen == {
        (ledger, batch) for ledger in ("ctf_ledger", "pm_ledger") for batch in (False, True)
    }
