"""The devnet's markets: what each of the generator's token ids is, for the Gamma stand-in.

Market m has two outcomes (Yes, No). Its CLOB token ids are the generator's keccak ids; on
ExchangeV3 it trades Protocol V2 position ids (gamma/position_ids.py), module 2 where the
market is neg-risk, else 1. Every third market is neg-risk, grouped three to an event; every
fourth (from market 1) is resolved, and every fourth from market 3 closed."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from eth_utils import keccak

from polygon_pipeline.gamma.position_ids import position_id

OUTCOMES = ("Yes", "No")
NEG_RISK_EVENT_SIZE = 3


def clob_token(market: int, outcome: int) -> int:
    return int.from_bytes(keccak(text=f"market {market} outcome {outcome}"), "big")


def neg_risk(market: int) -> bool:
    return market % 3 == 0


def neg_risk_group(market: int) -> int:
    """The neg-risk event (the NegRiskAdapter's market) a neg-risk market is a question of."""
    return market // (3 * NEG_RISK_EVENT_SIZE)


def v2_position(market: int, outcome: int) -> int:
    body = int.from_bytes(keccak(text=f"market {market} condition"), "big")
    return position_id(2 if neg_risk(market) else 1, body, outcome)


@dataclass(frozen=True, slots=True)
class DevnetMarket:
    index: int

    @property
    def condition_id(self) -> str:
        return "0x" + keccak(text=f"market {self.index} condition").hex()

    @property
    def question(self) -> str:
        return f"Will devnet event {self.index} happen by block {1000 * (self.index + 1)}?"

    @property
    def state(self) -> str:
        return {1: "resolved", 3: "closed"}.get(self.index % 4, "open")

    def event(self) -> dict:
        if neg_risk(self.index):
            group = neg_risk_group(self.index)
            return {"id": str(10_000 + group), "slug": f"devnet-group-{group}",
                    "title": f"Devnet group {group}: which event happens first?"}  # fmt: skip
        return {"id": str(20_000 + self.index), "slug": f"devnet-event-{self.index}",
                "title": f"Devnet event {self.index}"}  # fmt: skip

    def gamma(self) -> dict:
        """The market as Gamma's /markets/keyset lists it (lists JSON-encoded)."""
        state = self.state
        return {
            "id": str(self.index + 1),
            "question": self.question,
            "conditionId": self.condition_id,
            "slug": f"devnet-market-{self.index}",
            "outcomes": json.dumps(list(OUTCOMES)),
            "outcomePrices": json.dumps(["0.5", "0.5"]),
            "clobTokenIds": json.dumps([str(clob_token(self.index, o)) for o in range(2)]),
            "positionIds": json.dumps([str(v2_position(self.index, o)) for o in range(2)]),
            "negRisk": neg_risk(self.index),
            "active": True,
            "closed": state != "open",
            "endDate": f"2027-01-{1 + self.index % 28:02d}T00:00:00Z",
            "umaResolutionStatus": "resolved" if state == "resolved" else None,
            "events": [self.event()],
            "version": "v2",
        }


def market_of_token(token: int, markets: int) -> int | None:
    """The market (of the first `markets`) whose CLOB or V2 id `token` is; None: none."""
    return _index(markets).get(token)


@functools.lru_cache(maxsize=8)
def _index(markets: int) -> dict[int, int]:
    return {
        token: m
        for m in range(markets)
        for o in range(2)
        for token in (clob_token(m, o), v2_position(m, o))
    }
