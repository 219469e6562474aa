"""Find when the conditions of the leaders' positions resolved, and how they paid out:
ConditionalTokens' `ConditionResolution` names no wallet, so it is asked for by condition id
(topic 1, one OR list), from the first block a leader moved the condition's tokens up to
where the fills are reconciled, in chunks of POLYGON_BACKFILL_MAX_RANGE, through the
governed client; a search resumes where the last one stopped."""

from __future__ import annotations

from dataclasses import dataclass

from polygon_pipeline.chain.exchanges import VENUES
from polygon_pipeline.chain.transfers import CONDITION_RESOLUTION, Resolution, decode_resolution
from polygon_pipeline.store.cursors_repo import history_end
from polygon_pipeline.store.resolutions_repo import conditions_to_search, save_search
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head

_IDS_PER_QUERY = 100  # condition ids per OR list (a filter's topics stay a few KB)


@dataclass
class ResolutionReport:
    conditions: int = 0
    resolved: int = 0
    getlogs_calls: int = 0

    def summary(self) -> str:
        return (
            f"resolutions: {self.conditions} condition(s) searched, {self.resolved} resolved, "
            f"{self.getlogs_calls} eth_getLogs calls"
        )


def fetch_resolutions(ctx: SyncContext) -> ResolutionReport:
    """Search every condition not known to be resolved yet; store what was found."""
    with ctx.engine.connect() as conn:
        wanted = conditions_to_search(conn)
        end = history_end(conn)
    if end is None:
        end = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    report = ResolutionReport(conditions=len(wanted))
    calls_before = ctx.rpc.calls["eth_getLogs"]
    ledger = VENUES["ctf_ledger"].address
    step = ctx.settings.backfill_max_range
    ids = sorted(wanted)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        batch = ids[start : start + _IDS_PER_QUERY]
        found: list[Resolution] = []
        lo = max(min(wanted[c] for c in batch), 0)
        for chunk_lo in range(lo, end + 1, step):
            log_filter = {
                "address": [ledger],
                "topics": [[CONDITION_RESOLUTION], batch],
                "fromBlock": hex(chunk_lo),
                "toBlock": hex(min(chunk_lo + step - 1, end)),
            }
            found += ctx.rpc.get_logs(log_filter, decode_resolution)
        with ctx.engine.begin() as conn:
            save_search(conn, batch, end, found)
        report.resolved += len({r.condition_id for r in found})
    report.getlogs_calls = ctx.rpc.calls["eth_getLogs"] - calls_before
    return report
