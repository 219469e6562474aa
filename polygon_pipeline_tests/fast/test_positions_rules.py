"""The pnl-subgraph's cost rules worked by hand (a neg-risk conversion too), the transfer
decoder and the classification of a transfer from its transaction's context."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from eth_abi import encode
from eth_utils import keccak

from polygon_pipeline.chain.answer_checks import mismatch
from polygon_pipeline.chain.exchanges import VENUES
from polygon_pipeline.chain.fills import MalformedLog
from polygon_pipeline.chain.leader_logs import decode_leader_log
from polygon_pipeline.chain.log_queries import leader_filter
from polygon_pipeline.chain.transfers import (
    NEG_RISK_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTERS,
    NO_TOKEN_BURN_ADDRESS,
    POSITIONS_CONVERTED,
    TRANSFER_BATCH,
    TRANSFER_SINGLE,
    ZERO_ADDRESS,
)
from polygon_pipeline.positions.classify import classify, conversions
from polygon_pipeline.positions.cost import CostBasis, neg_risk_yes_price
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


def test_the_conversion_constants_are_the_sources():
    """The NO-token burn address as NegRiskAdapter.sol derives it, and the topic0 DESIGN
    "Beyond the fill" quotes for PositionsConverted."""
    assert "0x" + keccak(text="NO_TOKEN_BURN_ADDRESS")[:20].hex() == NO_TOKEN_BURN_ADDRESS
    assert POSITIONS_CONVERTED == (
        "0xb03d19dddbc72a87e735ff0ea3b57bef133ebe44e1894284916a84044deb367e"
    )


NO_A, NO_B, YES_C = 11, 12, 13  # a three-question neg-risk event: NO of A and B, YES of C


def _conversion_rows(via: str | None) -> list[dict]:
    """The leader's NO tokens of A and B bought by fills at 0.40 and 0.30, then 50 of each
    converted into 50 YES of C: directly on the NegRiskAdapter (`via` None) or through a
    neg-risk collateral adapter (`via`), as mainnet's transfers show it."""

    def t(log, batch, sender, receiver, token, amount):
        return {"block_number": 2, "log_index": log, "batch_index": batch, "tx_hash": "0xc",
                "sender": sender, "receiver": receiver, "token_id": token, "amount": amount,
                "block_timestamp": None}  # fmt: skip

    bought = [{**t(1, 0, OTHER, LEADER, tok, 100), "block_number": 1, "tx_hash": f"0x{tok}"}
              for tok in (NO_A, NO_B)]  # fmt: skip
    if via is None:
        legs = [t(5, 0, LEADER, NO_TOKEN_BURN_ADDRESS, NO_A, 50),
                t(5, 1, LEADER, NO_TOKEN_BURN_ADDRESS, NO_B, 50),
                t(6, 0, NEG_RISK_ADAPTER, LEADER, YES_C, 50)]  # fmt: skip
    else:
        legs = [t(5, 0, LEADER, via, NO_A, 50), t(5, 1, LEADER, via, NO_B, 50),
                t(9, 0, via, LEADER, YES_C, 50)]  # fmt: skip
    return bought + legs


def _fills() -> list[dict]:
    return [{"block_number": 1, "log_index": 0, "tx_hash": f"0x{tok}", "token_id": tok,
             "maker": LEADER, "side": "BUY", "token_amount": 100, "collateral_amount": coll,
             "block_timestamp": None} for tok, coll in ((NO_A, 40), (NO_B, 30))]  # fmt: skip


@pytest.mark.parametrize("via", [None, sorted(NEG_RISK_COLLATERAL_ADAPTERS)[0]])
def test_a_conversion_buys_the_yes_tokens_at_the_subgraphs_price(via):
    """pnl-subgraph handlePositionsConverted: each NO sold at its own average (no PnL), the
    YES bought at (no_price * n - 1 * (n - 1)) / (questions - n) = (0.35 * 2 - 1) / 1."""
    positions = {p.token_id: p for p in leader_positions(LEADER, _conversion_rows(via), _fills())}
    a, b, c = positions[NO_A], positions[NO_B], positions[YES_C]
    assert (a.size, a.cost.amount, a.cost.avg_price) == (50, 50, 400_000)
    assert (b.size, b.cost.amount, b.cost.avg_price) == (50, 50, 300_000)
    assert (c.size, c.cost.amount, c.cost.avg_price) == (50, 50, -300_000)
    assert sum(p.cost.realized_pnl for p in positions.values()) == 0
    assert {dict(p.kinds).get("conversion") for p in positions.values()} == {1}
    assert neg_risk_yes_price([400_000, 300_000], 3) == -300_000


def test_a_merge_or_split_through_a_neg_risk_adapter_is_no_conversion():
    rows = _conversion_rows(sorted(NEG_RISK_COLLATERAL_ADAPTERS)[0])
    assert conversions(rows[:-1], LEADER) == {}  # only sent to the adapter: a merge
    assert conversions([{**rows[-1], "sender": NEG_RISK_ADAPTER}], LEADER) == {}  # a split
    (found,) = conversions(rows, LEADER).values()
    assert (found.no_tokens, found.yes_tokens) == ((NO_A, NO_B), (YES_C,))
