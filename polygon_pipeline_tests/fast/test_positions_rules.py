"""The pnl-subgraph's cost rules worked by hand, the transfer decoder and the classification
of a transfer from its transaction's context."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_abi import encode

from polygon_pipeline.chain.answer_checks import mismatch
from polygon_pipeline.chain.exchanges import VENUES
from polygon_pipeline.chain.fills import MalformedLog
from polygon_pipeline.chain.leader_logs import decode_leader_log
from polygon_pipeline.chain.log_queries import leader_filter
from polygon_pipeline.chain.transfers import TRANSFER_BATCH, TRANSFER_SINGLE, ZERO_ADDRESS
from polygon_pipeline.positions.classify import classify
from polygon_pipeline.positions.cost import CostBasis
from polygon_pipeline.positions.ledger import leader_positions

LEADER, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20
ADAPTER = "0xada100874d00e3331d00f2007a9c336a65009718"


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def _log(topic0: str, sender: str, receiver: str, data: bytes, ledger: str = "ctf_ledger"):
    return {
        "address": VENUES[ledger].address,
        "topics": [topic0, _topic(OTHER), _topic(sender), _topic(receiver)],
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "11" * 32,
        "transactionHash": "0x" + "22" * 32,
        "logIndex": "0x3",
    }


def test_cost_basis_follows_the_subgraph_rules():
    cost = CostBasis()
    cost.buy(400_000, 100_000_000)  # 100 tokens at 0.40
    cost.buy(600_000, 100_000_000)  # 100 more at 0.60: avg 0.50
    assert (cost.amount, cost.avg_price) == (200_000_000, 500_000)
    cost.sell(700_000, 50_000_000)  # 50 at 0.70: +10.00
    assert (cost.realized_pnl, cost.avg_price) == (10_000_000, 500_000)
    cost.sell(200_000, 500_000_000)  # more than held: only the 150 held count, -45.00
    assert (cost.realized_pnl, cost.amount) == (-35_000_000, 0)
    loss = CostBasis(amount=3, avg_price=1)
    loss.sell(0, 1)  # -1e-6 rounds toward zero, as graph-ts BigInt divides
    assert loss.realized_pnl == 0


def test_a_transfer_batch_decodes_to_each_id_and_amount():
    data = encode(["uint256[]", "uint256[]"], [[7, 2**255], [5, 6]])
    transfer = decode_leader_log(_log(TRANSFER_BATCH, ZERO_ADDRESS, LEADER, data))
    assert (transfer.ledger, transfer.sender, transfer.receiver) == (
        "ctf_ledger",
        ZERO_ADDRESS,
        LEADER,
    )
    assert (transfer.token_ids, transfer.amounts) == ((7, 2**255), (5, 6))
    single = decode_leader_log(
        _log(TRANSFER_SINGLE, LEADER, OTHER, (9).to_bytes(32, "big") * 2, "pm_ledger")
    )
    assert (single.ledger, single.token_ids, single.amounts) == ("pm_ledger", (9,), (9,))


def test_a_malformed_transfer_is_named():
    with pytest.raises(MalformedLog, match="TransferSingle data must be 64 bytes"):
        decode_leader_log(_log(TRANSFER_SINGLE, LEADER, OTHER, b"\0" * 32))
    with pytest.raises(MalformedLog, match="malformed ERC-1155"):
        decode_leader_log(_log(TRANSFER_BATCH, LEADER, OTHER, b"\1" * 64))


def test_a_transfer_of_another_wallet_is_a_foreign_answer():
    wanted = leader_filter([VENUES["ctf_ledger"]], [LEADER], 3, (0, 100))
    log = _log(TRANSFER_SINGLE, LEADER, OTHER, b"\0" * 64)
    assert "topic 3" in mismatch(wanted, log)
    assert mismatch(wanted, _log(TRANSFER_SINGLE, OTHER, LEADER, b"\0" * 64)) is None


def test_a_transfer_is_classified_by_its_counterparty_and_transaction():
    row = {"sender": ZERO_ADDRESS, "receiver": LEADER, "tx_hash": "0x1", "token_id": 5}
    assert classify(row, LEADER, set()) == "split"
    assert classify({**row, "sender": ADAPTER}, LEADER, set()) == "split"
    assert classify({**row, "sender": LEADER, "receiver": ADAPTER}, LEADER, set()) == "merge"
    assert classify({**row, "sender": OTHER}, LEADER, {("0x1", 5)}) == "fill"
    assert classify({**row, "sender": OTHER}, LEADER, set()) == "transfer"


def test_a_transfer_in_has_no_cost_and_a_redemption_pays_out():
    def t(block, sender, receiver, amount, token=5):
        return {"block_number": block, "log_index": 0, "sender": sender, "receiver": receiver,
                "tx_hash": f"0x{block}", "token_id": token, "amount": amount,
                "block_timestamp": datetime(2026, 5, block, tzinfo=UTC)}  # fmt: skip

    transfers = [
        t(1, ZERO_ADDRESS, LEADER, 10_000_000),  # split: 10 at 0.50
        t(2, OTHER, LEADER, 5_000_000),  # a gift: size only
        t(9, LEADER, ZERO_ADDRESS, 15_000_000),  # burnt after resolution at 1.00
    ]
    (pos,) = leader_positions(LEADER, transfers, [], {5: (8, 1_000_000)})
    assert pos.size == 0 and pos.price == 1_000_000
    assert pos.cost.realized_pnl == 5_000_000  # only the 10 with a known cost realize
    assert dict(pos.kinds) == {"split": 1, "transfer": 1, "redemption": 1}
    assert dict(pos.realized_by_day) == {"2026-05-09": 5_000_000}
