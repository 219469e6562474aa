"""One run over several block windows: adjacent windows merged into one range and reconciled
together (every exchange in one filter), each window's own figures attributed by block
number, and, when the run is a retry, the ranges an earlier attempt already stored skipped."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.store.coverage_repo import Span, merge, uncovered
from polygon_pipeline.store.fills_repo import FillKey, fill_versions
from polygon_pipeline.store.leader_coverage_repo import leader_set_id
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.reconcile import ReconcileReport, reconcile


@dataclass
class WindowFigures:
    """What one window holds after the run, and what the run changed in it."""

    blocks: Span
    fills_found: int  # leader fills stored in the window once reconciled
    fills_written: int  # rows the run inserted or moved to another block
    fills_retracted: int  # rows the run deleted (their block left the chain)
    reconciled: bool  # False: an earlier attempt had stored it all, skipped


def reconcile_windows(
    ctx: SyncContext, windows: dict[str, Span], skip_covered: bool = False
) -> tuple[dict[str, WindowFigures], list[ReconcileReport]]:
    """Reconcile the windows (all final) as merged ranges; per-window figures come from the
    stored rows before and after, attributed to windows by block number."""
    exchanges = list(EXCHANGES)
    spans = merge(windows.values())
    todo = _uncovered(ctx, exchanges, spans) if skip_covered else spans
    before = _versions(ctx, exchanges, spans)
    reports = [reconcile(ctx, exchanges, lo, hi) for lo, hi in todo]
    after = _versions(ctx, exchanges, spans)
    with ctx.engine.connect() as conn:
        leaders = set(list_leaders(conn))
    followed = ctx.settings.follow_roles.split(",")

    def is_found(row: tuple) -> bool:
        maker, taker = row[3], row[4]
        return maker in leaders or ("taker" in followed and taker in leaders)

    now_in, was_in = _by_window(windows, after), _by_window(windows, before)
    figures = {}
    for key, (lo, hi) in windows.items():
        now, was = now_in[key], was_in[key]
        figures[key] = WindowFigures(
            blocks=(lo, hi),
            fills_found=sum(1 for row in now.values() if is_found(row)),
            fills_written=sum(1 for k, row in now.items() if before.get(k) != row),
            fills_retracted=sum(1 for k in was if k not in after),
            reconciled=any(a <= hi and lo <= b for a, b in todo),
        )
    return figures, reports


def _by_window(windows: dict[str, Span], rows: dict[FillKey, tuple]) -> dict[str, dict]:
    """Each window's rows (windows do not overlap; a row's first field is its block), sorted
    into them in one pass, not one pass per window."""
    ordered = sorted(windows.items(), key=lambda item: item[1][0])
    starts = [lo for _, (lo, _) in ordered]
    found: dict[str, dict] = {key: {} for key in windows}
    for k, row in rows.items():
        at = bisect_right(starts, row[0]) - 1
        if at >= 0 and row[0] <= ordered[at][1][1]:
            found[ordered[at][0]][k] = row
    return found


def _versions(ctx: SyncContext, exchanges: list[str], spans: list[Span]) -> dict[FillKey, tuple]:
    with ctx.engine.connect() as conn:
        return {k: v for lo, hi in spans for k, v in fill_versions(conn, exchanges, lo, hi).items()}


def _uncovered(ctx: SyncContext, exchanges: list[str], spans: list[Span]) -> list[Span]:
    """The parts of `spans` not yet stored for today's leaders on every exchange."""
    with ctx.engine.begin() as conn:
        set_id = leader_set_id(conn, list_leaders(conn))
        return uncovered(conn, exchanges, spans, set_id)
