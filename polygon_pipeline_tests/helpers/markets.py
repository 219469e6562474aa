"""What the devnet's Gamma stand-in holds for a token: the truth a market label is held to."""

from __future__ import annotations

from polygon_pipeline.devnet.generator import GeneratorConfig
from polygon_pipeline.devnet.market_catalogue import (
    OUTCOMES,
    DevnetMarket,
    clob_token,
    market_of_token,
    v2_position,
)

MARKETS = GeneratorConfig().markets


def expected_market(token: int) -> tuple[str, str]:
    """The question and outcome the stand-in holds for a token of the devnet's markets."""
    market = market_of_token(token, MARKETS)
    assert market is not None, f"token {token} is none of the devnet's"
    names = [n for o, n in enumerate(OUTCOMES) if token in _ids(market, o)]
    return DevnetMarket(market).question, names[0]


def is_position_id(token: int) -> bool:
    """Whether `token` is one of the devnet's Protocol V2 position ids (not a CLOB id)."""
    market = market_of_token(token, MARKETS)
    return market is not None and token in {v2_position(market, o) for o in range(2)}


def _ids(market: int, outcome: int) -> tuple[int, int]:
    return clob_token(market, outcome), v2_position(market, outcome)
