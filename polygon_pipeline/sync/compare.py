"""The source comparator: which source saw each leader trade first, and what either missed.

It reads only what the sources already stored (the fills table and the API trades table):
no RPC and no Data API calls of its own. A chain fill counts as a leader trade by the
counting rule (the leader is the maker); it matches an API trade with the same transaction,
leader, token, side and size."""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine

from polygon_pipeline.chain.trades import trade_of
from polygon_pipeline.store.api_trades_repo import fetch_api_trades
from polygon_pipeline.store.fills_repo import leader_maker_fills

SIZE_QUANTUM = Decimal("0.000001")  # 6 decimals: API floats and chain amounts meet here
PERCENTILES = (50, 95, 99)


@dataclass
class Comparison:
    matched: int
    only_chain: int
    only_api: int
    chain_latency_s: list[float] = field(repr=False)  # first seen - block time, per trade
    api_latency_s: list[float] = field(repr=False)
    lead_s: list[float] = field(repr=False)  # API first seen - chain first seen, matched trades

    @staticmethod
    def _pct(values: list[float]) -> dict[int, float | None]:
        if not values:
            return dict.fromkeys(PERCENTILES)
        series = pd.Series(values)
        return {q: round(float(series.quantile(q / 100)), 3) for q in PERCENTILES}

    def percentiles(self) -> dict[str, dict[int, float | None]]:
        return {
            "chain": self._pct(self.chain_latency_s),
            "api": self._pct(self.api_latency_s),
            "lead": self._pct(self.lead_s),
        }

    def markdown(self) -> str:
        pct = self.percentiles()
        counts = pd.DataFrame(
            [
                {
                    "matched": self.matched,
                    "only on chain": self.only_chain,
                    "only in API": self.only_api,
                }
            ]
        )
        latency = pd.DataFrame(
            [
                {"": "chain feed: first seen - block time (s)", **_row(pct["chain"])},
                {"": "Data API: first seen - block time (s)", **_row(pct["api"])},
                {"": "lead of the chain feed over the API (s)", **_row(pct["lead"])},
            ]
        )
        return counts.to_markdown(index=False) + "\n\n" + latency.to_markdown(index=False)

    def png(self) -> bytes:
        """Latency distributions of both sources, and the chain feed's lead, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        for values, label in (
            (self.chain_latency_s, "chain feed"),
            (self.api_latency_s, "Data API"),
        ):
            if values:
                left.hist(values, bins=30, alpha=0.6, label=label)
        left.set(title="detection latency", xlabel="first seen - block time (s)", ylabel="trades")
        left.legend()
        if self.lead_s:
            right.hist(self.lead_s, bins=30, color="tab:green")
        right.set(
            title="lead of the chain feed",
            xlabel="API seen - chain seen (s)",
            ylabel="matched trades",
        )
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=90)
        plt.close(fig)
        return out.getvalue()

    def markdown_with_plot(self) -> str:
        encoded = base64.b64encode(self.png()).decode()
        return self.markdown() + f"\n\n![latency](data:image/png;base64,{encoded})"


def _row(values: dict[int, float | None]) -> dict[str, object]:
    return {f"p{q}": "-" if v is None else v for q, v in values.items()}


def _size(value: Decimal | str) -> Decimal:
    return Decimal(value).quantize(SIZE_QUANTUM)


def compare_sources(engine: Engine, since: datetime | None = None) -> Comparison:
    with engine.connect() as conn:
        chain_rows = leader_maker_fills(conn, since)
        api_rows = fetch_api_trades(conn, since)
    chain: dict[tuple, list[dict]] = defaultdict(list)
    chain_latency = []
    for row in chain_rows:
        view = trade_of(row)
        if view is None or row["block_timestamp"] is None:
            continue
        key = (row["tx_hash"], row["maker"], view.token_id, view.side, _size(view.size))
        chain[key].append(row)
        chain_latency.append((row["first_seen_at"] - row["block_timestamp"]).total_seconds())
    matched = only_api = 0
    api_latency, lead = [], []
    for trade in api_rows:
        key = (
            trade["tx_hash"],
            trade["leader"],
            trade["token_id"],
            trade["side"],
            _size(trade["size"]),
        )
        candidates = chain.get(key)
        if candidates:
            fill = candidates.pop()
            matched += 1
            api_latency.append((trade["first_seen_at"] - fill["block_timestamp"]).total_seconds())
            lead.append((trade["first_seen_at"] - fill["first_seen_at"]).total_seconds())
        else:
            only_api += 1
            api_latency.append((trade["first_seen_at"] - trade["trade_timestamp"]).total_seconds())
    only_chain = sum(len(rows) for rows in chain.values())
    return Comparison(matched, only_chain, only_api, chain_latency, api_latency, lead)
