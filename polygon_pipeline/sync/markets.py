"""`markets sync`: look up every token id of a stored trade that is not known yet (and
refresh the open markets), in batches, through the Gamma client's own shared budget.

A token is looked up once; only an open market is asked again (after REFRESH_OPEN_S). Ids
Gamma does not know, and the ids of a batch whose request failed for good, are recorded as
misses and tried again later (store/markets_repo.py): the fills never wait for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from polygon_pipeline.gamma.client import CLOB_IDS, POSITION_IDS
from polygon_pipeline.gamma.markets import MarketOutcome
from polygon_pipeline.gamma.position_ids import decode_position_id
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.store.markets_repo import record_misses, save_outcomes, tokens_to_look_up
from polygon_pipeline.sync.context import GammaContext

log = logging.getLogger(__name__)

REFRESH_OPEN_S = 3600.0  # an open market's state (closed, resolved) is asked again this often
UNKNOWN = "unknown to Gamma"


@dataclass
class MarketsReport:
    tokens: int = 0  # token ids looked up
    batches: int = 0
    outcomes_saved: int = 0
    unknown: int = 0  # ids Gamma answered nothing for
    failed: int = 0  # ids of batches whose request failed for good
    requests: int = 0  # HTTP requests sent (the client's telemetry; claims: stand-in counters)
    throttles: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"looked up {self.tokens} token ids in {self.batches} batches: "
            f"{self.outcomes_saved} known, {self.unknown} unknown, {self.failed} failed "
            f"(tried again later); {self.requests} requests, {self.throttles} throttled, "
            f"{self.seconds:.1f}s"
        )


def _lookup_kind(token: int, on_v2_venue: bool) -> str:
    """Protocol V2 position ids by `positionIds`; anything else (and an ExchangeV3 token that
    does not decode as a position id) by `clob_token_ids`."""
    return POSITION_IDS if on_v2_venue and decode_position_id(token) else CLOB_IDS


def _batches(tokens: dict[int, bool], size: int) -> list[tuple[str, list[int]]]:
    by_kind: dict[str, list[int]] = {CLOB_IDS: [], POSITION_IDS: []}
    for token, v2 in sorted(tokens.items()):
        by_kind[_lookup_kind(token, v2)].append(token)
    return [
        (kind, ids[at : at + size])
        for kind, ids in by_kind.items()
        for at in range(0, len(ids), size)
    ]


def _look_up(ctx: GammaContext, kind: str, batch: Sequence[int]) -> list[MarketOutcome]:
    """The batch's outcomes; the ids missing from the first answer are asked again with
    closed=true (Gamma may leave closed markets out otherwise: docs/markets.md)."""
    found = ctx.client.markets(batch, by=kind)
    missing = sorted(set(batch) - {o.token_id for o in found})
    if missing:
        found += ctx.client.markets(missing, by=kind, closed=True)
    return found


def sync_markets(
    ctx: GammaContext,
    *,
    refresh_open_s: float = REFRESH_OPEN_S,
    on_progress: Callable[[MarketsReport], None] | None = None,
) -> MarketsReport:
    started = time.monotonic()
    calls_before, throttles_before = sum(ctx.client.calls.values()), ctx.client.throttles
    now = datetime.now(tz=UTC)
    with ctx.engine.connect() as conn:
        tokens = tokens_to_look_up(conn, now, now - timedelta(seconds=refresh_open_s))
    report = MarketsReport(tokens=len(tokens))
    for kind, batch in _batches(tokens, ctx.settings.gamma_batch_size):
        report.batches += 1
        try:
            found = _look_up(ctx, kind, batch)
        except ProviderError as exc:
            log.warning(
                "markets: %d token ids not looked up (%s); tried again later", len(batch), exc
            )
            with ctx.engine.begin() as conn:
                report.failed += record_misses(conn, batch, str(exc), datetime.now(tz=UTC))
            continue
        unknown = set(batch) - {o.token_id for o in found}
        with ctx.engine.begin() as conn:
            report.outcomes_saved += save_outcomes(conn, found, datetime.now(tz=UTC))
            if unknown:
                report.unknown += record_misses(conn, unknown, UNKNOWN, datetime.now(tz=UTC))
        if on_progress:
            on_progress(report)
    report.requests = sum(ctx.client.calls.values()) - calls_before
    report.throttles = ctx.client.throttles - throttles_before
    report.seconds = time.monotonic() - started
    return report
