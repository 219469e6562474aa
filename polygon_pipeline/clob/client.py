"""The CLOB client: a token's midpoint (`GET /midpoint?token_id=` -> `{"mid": "0.45"}`;
docs.polymarket.com, DESIGN "Beyond the fill"), through the same governed machinery as the
other clients (its own shared budget, the same 429 back-off, bounded retries of 5xx and bad
answers). A token without an order book (404: never traded there, or its market closed) has
no midpoint."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from polygon_pipeline.governed_http import GovernedHttp
from polygon_pipeline.positions.cost import SCALE
from polygon_pipeline.provider_errors import Permanent

NO_BOOK = 404


def _mid(resp: Any) -> int | None:
    """The midpoint x1e6, or None where the token has no order book."""
    if resp.status_code == NO_BOOK:
        return None
    mid = Decimal(str(resp.json()["mid"]))
    if not 0 <= mid <= 1:
        raise ValueError(f"midpoint {mid} is not a price between 0 and 1")
    return int(mid * SCALE)


class ClobClient(GovernedHttp):
    def midpoint(self, token_id: int) -> int | None:
        return self.governed("midpoint", lambda: self._get(token_id), _mid)

    def _get(self, token_id: int) -> Any:
        url = self._url.rstrip("/") + "/midpoint"
        resp = self.http("midpoint", "GET", url, params={"token_id": str(token_id)})
        if resp.status_code >= 400 and resp.status_code != NO_BOOK:
            raise Permanent(f"/midpoint: HTTP {resp.status_code}: {self.quote(resp.text, 200)}")
        return resp
