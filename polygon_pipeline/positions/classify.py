"""What each of a leader's position transfers was, read from its transaction's context
(docs/positions.md): a neg-risk conversion (NO tokens given up, YES tokens received, in one
transaction), a split or merge (a mint from / burn to the zero address, directly or through
a split-merge adapter), a fill (the leader's own OrderFilled for that token in the same
transaction: its cost comes from the fill), or a plain transfer between wallets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from polygon_pipeline.chain.transfers import (
    NEG_RISK_ADAPTER,
    NEG_RISK_COLLATERAL_ADAPTERS,
    NO_TOKEN_BURN_ADDRESS,
    SPLIT_MERGE_ADAPTERS,
    ZERO_ADDRESS,
)

SPLIT, MERGE, FILL, TRANSFER = "split", "merge", "fill", "transfer"
CONVERSION = "conversion"
REDEMPTION = "redemption"  # a burn once the condition resolved (positions/ledger.py)


@dataclass(frozen=True)
class Conversion:
    """One neg-risk conversion as the leader's transfers show it: the NO tokens it gave up
    (one per question of the index set), the YES tokens it got (one per other question of
    the market) and which of its transfer rows, by (log_index, batch_index), were the legs."""

    no_tokens: tuple[int, ...]
    yes_tokens: tuple[int, ...]
    legs: frozenset[tuple[int, int]]


def _leg(row: dict) -> tuple[int, int]:
    return (int(row["log_index"]), int(row.get("batch_index") or 0))


def conversions(rows: Iterable[dict], leader: str) -> dict[str, Conversion]:
    """The leader's conversions by transaction hash. Before CLOB V2 the NegRiskAdapter moves
    the caller's NO tokens to its NO-token burn address and sends the YES tokens from itself;
    since then a neg-risk collateral adapter pulls the NO tokens and sends the YES tokens
    back, both legs with the leader (a split only receives, a merge only sends)."""
    by_tx: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_tx[row["tx_hash"]].append(row)
    found = {}
    for tx, tx_rows in by_tx.items():
        sent = {r["receiver"] for r in tx_rows if r["sender"] == leader}
        got = {r["sender"] for r in tx_rows if r["receiver"] == leader}
        through = sent & got & NEG_RISK_COLLATERAL_ADAPTERS  # since CLOB V2
        burnt = NO_TOKEN_BURN_ADDRESS in sent  # directly on the NegRiskAdapter
        if not (through or burnt):
            continue
        takers = through | ({NO_TOKEN_BURN_ADDRESS} if burnt else set())
        givers = through | ({NEG_RISK_ADAPTER} if burnt else set())
        out = [r for r in tx_rows if r["sender"] == leader and r["receiver"] in takers]
        in_ = [r for r in tx_rows if r["receiver"] == leader and r["sender"] in givers]
        found[tx] = Conversion(
            tuple(dict.fromkeys(int(r["token_id"]) for r in out)),
            tuple(dict.fromkeys(int(r["token_id"]) for r in in_)),
            frozenset(_leg(r) for r in out + in_),
        )
    return found


def classify(
    row: dict,
    leader: str,
    filled: set[tuple[str, int]],
    converted: Mapping[str, Conversion] | None = None,
) -> str:
    """The kind of one stored transfer row as seen by `leader` (its sender or receiver);
    `filled` holds (tx_hash, token_id) of the leader's own fills, `converted` its
    conversions by transaction (`conversions`)."""
    conversion = (converted or {}).get(row["tx_hash"])
    if conversion is not None and _leg(row) in conversion.legs:
        return CONVERSION
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
