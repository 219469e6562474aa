"""Protocol V2 (ExchangeV3) position ids, decoded offline.

A PositionManager id carries its module in the top 8 bits (1 binary, 2 neg-risk,
3 combinatorial) and the outcome in the low 8 bits; the condition is the id with the outcome
byte zeroed (polymarket-v2-external, docs/position-ids.md; docs/markets.md)."""

from __future__ import annotations

from dataclasses import dataclass

MODULES = {1: "binary", 2: "negrisk", 3: "combinatorial"}
V2_VENUES = frozenset({"v3"})  # venues whose fills carry PositionManager ids (ExchangeV3)
V2_LEDGERS = frozenset({"pm_ledger"})  # ledgers whose transfers carry them (PositionManager)


@dataclass(frozen=True, slots=True)
class PositionId:
    module: str
    condition: int  # the id with its outcome byte zeroed
    outcome_index: int


def position_id(module: int, condition_body: int, outcome_index: int) -> int:
    """The id of an outcome: module byte, 30 bytes of condition, outcome byte."""
    return (module << 248) | ((condition_body % 2**240) << 8) | outcome_index


def decode_position_id(token_id: int) -> PositionId | None:
    """The parts of a V2 position id; None when its module byte is none of the known."""
    module = MODULES.get(token_id >> 248)
    if module is None or not 0 <= token_id < 2**256:
        return None
    return PositionId(module, token_id & ~0xFF, token_id & 0xFF)
