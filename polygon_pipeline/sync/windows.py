"""One run over cells of the exchange x block window grid (a Dagster run of leader_fills, or
any caller with windows): windows past the finalized head left for later; final windows that
want the same exchanges merged into one range and reconciled together (every venue of every
one of those exchanges in one filter, so three exchanges cost the calls of one); each cell's
own figures attributed by exchange and block number; and, when the run is a retry, the ranges
an earlier attempt already stored skipped. (Span, merge and format_spans are imported from
here by the Dagster layer too: windows are spans of blocks.)"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.store.coverage_repo import Span, format_spans, merge, uncovered
from polygon_pipeline.store.fills_repo import FillKey, fill_versions
from polygon_pipeline.store.leader_coverage_repo import leader_set_id
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import ReconcileReport, reconcile

EXCHANGE_NAMES: tuple[str, ...] = tuple(EXCHANGES)  # the grid's exchange dimension, in order

Cell = tuple[str, str]  # (exchange, window key)


@dataclass
class WindowFigures:
    """What one exchange holds in one window after the run, and what the run changed there."""

    blocks: Span
    fills_found: int  # leader fills stored in the window once reconciled
    fills_written: int  # rows the run inserted or moved to another block
    fills_retracted: int  # rows the run deleted (their block left the chain)
    reconciled: bool  # False: an earlier attempt had stored it all, skipped

    @property
    def block_range(self) -> str:
        return format_spans([self.blocks])


@dataclass
class RunTotals:
    """What one or more reconciliations did, summed: a window run's figures as a whole, or the
    periodic mini-reconciliation's. Zeros (and `-`) when nothing had to be reconciled."""

    block_ranges: str
    fills_found: int
    fills_written: int
    fills_retracted: int
    getlogs_calls: int
    throttles: int
    chunks: int
    range_sizes: str
    seconds: float

    @classmethod
    def of(cls, reports: Sequence[ReconcileReport]) -> RunTotals:
        sizes = [size for report in reports for size in report.range_sizes]
        return cls(
            block_ranges=format_spans((r.from_block, r.to_block) for r in reports),
            fills_found=sum(r.fills_found for r in reports),
            fills_written=sum(r.fills_written for r in reports),
            fills_retracted=sum(r.retracted for r in reports),
            getlogs_calls=sum(r.getlogs_calls for r in reports),
            throttles=sum(r.throttles for r in reports),
            chunks=sum(r.chunks for r in reports),
            range_sizes=(
                f"min {min(sizes)}, max {max(sizes)}, mean {sum(sizes) / len(sizes):.0f}"
                if sizes
                else "-"
            ),
            seconds=round(sum((r.seconds for r in reports), 0.0), 3),
        )


@dataclass
class WindowRun:
    """The outcome of `run_windows`."""

    finalized: int  # the finalized head when the run began
    late: list[str]  # keys of windows past it: not reconciled, for a later run
    figures: dict[Cell, WindowFigures] = field(default_factory=dict)  # the final cells'
    reports: list[ReconcileReport] = field(default_factory=list)  # one per range reconciled

    @property
    def totals(self) -> RunTotals:
        return RunTotals.of(self.reports)


def reconcile_above_windows(ctx: SyncContext, newest_window_end: int | None) -> ReconcileReport:
    """The mini-reconciliation: every exchange from the cursor (less the safety overlap) to
    the finalized head, but not below the newest window (less the overlap): windows are
    their runs' to reconcile, so a cursor held back by a backfill of older windows is not
    chased."""
    overlap = ctx.settings.backfill_safety_overlap
    floor = None if newest_window_end is None else max(0, newest_window_end + 1 - overlap)
    return reconcile(ctx, list(EXCHANGES), floor=floor)


def run_windows(
    ctx: SyncContext,
    windows: dict[str, Span],
    exchanges: dict[str, Sequence[str]] | None = None,
    skip_covered: bool = False,
) -> WindowRun:
    """Reconcile, of the windows `{key: (first, last)}` that lie below the finalized head, the
    `exchanges[key]` of each (default: every exchange); the other windows are reported late.
    `skip_covered` (a retry): only what no earlier attempt stored."""
    head = finalized_head(ctx.rpc, ctx.settings.confirmation_blocks)
    late = sorted(key for key, (_, hi) in windows.items() if hi > head)
    final = {key: span for key, span in windows.items() if key not in late}
    if not final:
        return WindowRun(head, late)
    run = WindowRun(head, late)
    wanted = exchanges or dict.fromkeys(final, EXCHANGE_NAMES)
    for names, group in _by_exchanges(final, wanted).items():
        figures, reports = _reconcile_final(ctx, list(names), group, skip_covered)
        run.figures |= figures
        run.reports += reports
    return run


def _by_exchanges(
    windows: dict[str, Span], exchanges: dict[str, Sequence[str]]
) -> dict[tuple[str, ...], dict[str, Span]]:
    """Windows grouped by the exchanges wanted in them (registry order): each group is one
    set of merged ranges queried with one filter."""
    groups: dict[tuple[str, ...], dict[str, Span]] = {}
    for key, span in sorted(windows.items(), key=lambda item: item[1]):
        names = tuple(name for name in EXCHANGE_NAMES if name in exchanges[key])
        groups.setdefault(names, {})[key] = span
    return groups


def _reconcile_final(
    ctx: SyncContext, exchanges: list[str], windows: dict[str, Span], skip_covered: bool = False
) -> tuple[dict[Cell, WindowFigures], list[ReconcileReport]]:
    """Reconcile the windows (all final) of these exchanges as merged ranges; per-cell
    figures come from the stored rows before and after, attributed by exchange and block."""
    spans = merge(windows.values())
    todo = _uncovered(ctx, exchanges, spans) if skip_covered else spans
    before = {x: _versions(ctx, [x], spans) for x in exchanges}
    reports = [reconcile(ctx, exchanges, lo, hi) for lo, hi in todo]
    after = {x: _versions(ctx, [x], spans) for x in exchanges}
    with ctx.engine.connect() as conn:
        leaders = set(list_leaders(conn))
    followed = ctx.settings.follow_roles.split(",")

    def is_found(row: tuple) -> bool:
        maker, taker = row[3], row[4]
        return maker in leaders or ("taker" in followed and taker in leaders)

    figures = {}
    for exchange in exchanges:
        now_in, was_in = _by_window(windows, after[exchange]), _by_window(windows, before[exchange])
        for key, (lo, hi) in windows.items():
            now, was = now_in[key], was_in[key]
            figures[(exchange, key)] = WindowFigures(
                blocks=(lo, hi),
                fills_found=sum(1 for row in now.values() if is_found(row)),
                fills_written=sum(1 for k, row in now.items() if before[exchange].get(k) != row),
                fills_retracted=sum(1 for k in was if k not in after[exchange]),
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
        return uncovered(conn, exchanges, ctx.settings.venues, spans, set_id)
