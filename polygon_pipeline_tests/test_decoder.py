"""The hand decoder against web3's own ABI decoding, on real logs from anvil."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from web3 import Web3

from polygon_pipeline.chain.exchanges import CTF, NEGRISK, ORDER_FILLED_ABI, ORDER_FILLED_TOPIC
from polygon_pipeline.chain.fills import Fill, MalformedLog, decode_order_filled
from polygon_pipeline.chain.trades import is_leader_trade, trade_view


def _raw_logs(devnet, from_block: int, to_block: int) -> list[dict]:
    import requests

    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getLogs",
        "params": [
            {
                "address": [CTF.address, NEGRISK.address],
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
                "topics": [ORDER_FILLED_TOPIC],
            }
        ],
    }
    return requests.post(devnet.anvil_url, json=body, timeout=30).json()["result"]


def test_decoder_matches_web3_and_the_ground_truth(devnet):
    start = devnet.head() + 1
    end = devnet.mine(blocks=4, fills_per_block=15)["head"]
    raw = _raw_logs(devnet, start, end)
    truth = {(r["tx_hash"], r["log_index"]): r for r in devnet.truth(start, end)}
    assert len(raw) == len(truth) >= 60

    w3 = Web3(Web3.HTTPProvider(devnet.anvil_url))
    event = w3.eth.contract(abi=[ORDER_FILLED_ABI]).events.OrderFilled()
    formatted = w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": end,
            "address": [
                Web3.to_checksum_address(CTF.address),
                Web3.to_checksum_address(NEGRISK.address),
            ],
        }
    )
    by_web3 = {
        (f["transactionHash"].to_0x_hex(), f["logIndex"]): event.process_log(f) for f in formatted
    }

    for log in raw:
        fill = decode_order_filled(log)
        ref = by_web3[(fill.tx_hash, fill.log_index)]["args"]
        assert (fill.maker, fill.taker) == (ref["maker"].lower(), ref["taker"].lower())
        assert fill.order_hash == "0x" + ref["orderHash"].hex()
        assert (
            fill.maker_asset_id,
            fill.taker_asset_id,
            fill.maker_amount,
            fill.taker_amount,
            fill.fee,
        ) == (
            ref["makerAssetId"],
            ref["takerAssetId"],
            ref["makerAmountFilled"],
            ref["takerAmountFilled"],
            ref["fee"],
        )
        expected = truth[(fill.tx_hash, fill.log_index)]
        assert fill.exchange == expected["exchange"]
        assert fill.block_timestamp == expected["block_timestamp"]
        assert fill.block_hash == expected["block_hash"]


GOOD = {
    "address": CTF.address,
    "blockNumber": "0x10",
    "blockHash": "0x" + "aa" * 32,
    "transactionHash": "0x" + "bb" * 32,
    "logIndex": "0x2",
    "removed": False,
    "topics": [
        ORDER_FILLED_TOPIC,
        "0x" + "cc" * 32,
        "0x" + "00" * 12 + "11" * 20,
        "0x" + "00" * 12 + "22" * 20,
    ],
    "data": "0x" + "".join(f"{v:064x}" for v in (0, 2**256 - 1, 5_000_000, 10_000_000, 3)),
}


def test_decoder_reads_a_known_log_exactly():
    fill = decode_order_filled(GOOD)
    assert fill == Fill(
        137,
        "ctf",
        16,
        "0x" + "aa" * 32,
        None,
        "0x" + "bb" * 32,
        2,
        "0x" + "cc" * 32,
        "0x" + "11" * 20,
        "0x" + "22" * 20,
        0,
        2**256 - 1,
        5_000_000,
        10_000_000,
        3,
    )


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"address": "0x" + "99" * 20}, "not a known exchange"),
        ({"topics": GOOD["topics"][:3]}, "4 topics"),
        ({"topics": ["0x" + "00" * 32, *GOOD["topics"][1:]]}, "not OrderFilled"),
        ({"data": GOOD["data"][:-2]}, "160 bytes"),
        ({"data": "0x" + "zz" * 160}, "malformed"),
        ({"blockNumber": None}, "blockNumber"),
        ({"transactionHash": "0x12"}, "transactionHash"),
    ],
)
def test_decoder_names_what_is_wrong(change, complaint):
    with pytest.raises(MalformedLog, match=complaint):
        decode_order_filled({**GOOD, **change})


def test_trade_view_and_the_counting_rule():
    buy = decode_order_filled(GOOD)  # maker gives 5 USDC for 10 tokens
    view = trade_view(buy)
    assert (view.side, view.price, view.size, view.collateral) == (
        "BUY",
        Decimal("0.5"),
        Decimal(10),
        Decimal(5),
    )
    sell = replace(
        buy, maker_asset_id=7, taker_asset_id=0, maker_amount=3_000_000, taker_amount=1_000_000
    )
    view = trade_view(sell)
    assert (view.side, view.token_id, view.size) == ("SELL", 7, Decimal(3))
    assert str(view.price) == "0." + "3" * 40  # 40 significant digits
    assert trade_view(replace(buy, taker_asset_id=0)) is None  # collateral for collateral
    # A leader taking a match: its own order's fill (maker = leader, taker = exchange) counts,
    # the maker's fill against it (taker = leader) does not count again.
    leader = "0x" + "11" * 20
    own = replace(buy, taker=CTF.address)
    counter = replace(buy, maker="0x" + "33" * 20, taker=leader)
    assert [is_leader_trade(f, {leader}) for f in (own, counter)] == [True, False]
