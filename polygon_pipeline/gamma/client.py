"""The Gamma client: `/markets/keyset` by token ids, through the same governed machinery as
the RPC and Data API clients (its own shared budget, the same 429 back-off, bounded retries
of 5xx and bad answers). Each page is checked against the ids asked for before it is kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polygon_pipeline.gamma.markets import MarketOutcome, checked_outcomes
from polygon_pipeline.governed_http import GovernedHttp
from polygon_pipeline.provider_errors import Permanent

KEYSET_PATH = "/markets/keyset"
CLOB_IDS, POSITION_IDS = "clob_token_ids", "positionIds"  # V1/V2 CLOB tokens; Protocol V2


@dataclass(frozen=True, slots=True)
class Page:
    outcomes: list[MarketOutcome]
    next_cursor: str | None


def _page(asked: Sequence[int]):
    def parse(resp: Any) -> Page:
        body = resp.json()
        if not isinstance(body, dict) or not isinstance(body.get("markets"), list):
            raise ValueError(f"expected {{markets, next_cursor}}, got {str(body)[:200]}")
        cursor = body.get("next_cursor") or None
        return Page(checked_outcomes(asked, body["markets"]), cursor)

    return parse


class GammaClient(GovernedHttp):
    def markets(
        self, token_ids: Sequence[int], *, by: str = CLOB_IDS, closed: bool = False
    ) -> list[MarketOutcome]:
        """The outcomes of the markets holding `token_ids` (one request per page; ids Gamma
        does not know are simply absent). `closed`: ask for closed markets (closed=true), which
        Gamma may leave out otherwise (docs/markets.md)."""
        params: dict[str, object] = {by: [str(t) for t in token_ids]}
        if closed:
            params["closed"] = "true"
        outcomes: list[MarketOutcome] = []
        cursor: str | None = None
        while True:
            page_params = {**params, **({"after_cursor": cursor} if cursor else {})}
            page = self.governed("markets", lambda p=page_params: self._get(p), _page(token_ids))
            outcomes.extend(page.outcomes)
            if page.next_cursor is None or page.next_cursor == cursor:
                return outcomes
            cursor = page.next_cursor

    def _get(self, params: dict) -> Any:
        resp = self.http("markets", "GET", self._url.rstrip("/") + KEYSET_PATH, params=params)
        if resp.status_code >= 400:
            raise Permanent(f"{KEYSET_PATH}: HTTP {resp.status_code}: {self.quote(resp.text, 200)}")
        return resp
