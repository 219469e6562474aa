"""What each of a leader's position transfers was, read from its transaction's context
(docs/positions.md): a split or merge (a mint from / burn to the zero address, directly or
through a split-merge adapter), a fill (the leader's own OrderFilled for that token in the
same transaction: its cost comes from the fill), or a plain transfer between wallets."""

from __future__ import annotations

from collections.abc import Iterable

from polygon_pipeline.chain.transfers import SPLIT_MERGE_ADAPTERS, ZERO_ADDRESS

SPLIT, MERGE, FILL, TRANSFER = "split", "merge", "fill", "transfer"
REDEMPTION = "redemption"  # a burn once the condition resolved (positions/ledger.py)


def classify(row: dict, leader: str, filled: set[tuple[str, int]]) -> str:
    """The kind of one stored transfer row as seen by `leader` (its sender or receiver);
    `filled` holds (tx_hash, token_id) of the leader's own fills."""
    incoming = row["receiver"] == leader
    other = row["sender"] if incoming else row["receiver"]
    if other == ZERO_ADDRESS or other in SPLIT_MERGE_ADAPTERS:
        return SPLIT if incoming else MERGE
    if (row["tx_hash"], int(row["token_id"])) in filled:
        return FILL
    return TRANSFER


def own_fill_keys(fills: Iterable[dict]) -> set[tuple[str, int]]:
    """(tx_hash, token_id) of fills: where a transfer is a fill's settlement."""
    return {(f["tx_hash"], int(f["token_id"])) for f in fills}
