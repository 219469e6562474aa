"""The audit: every closed window re-read from another provider than the one that filled it,
its leader fills compared with the store's (identities and block hashes), a difference
repaired from the union of both providers' answers and reported.

A node has been seen answering `eth_getLogs` with logs missing (0xPolygon/bor#519): the
store would record the hole as covered and every check would pass. One provider cannot prove
a range; two that agree can. Why the union: a provider leaving a log out is the failure seen
in the field; a log that one provider returns is checked against the request like every
answer (chain/answer_checks.py), and a stored fill that neither returns any more is
retracted only when its block hash is no longer canonical (as reconciliation does).

Cost: one re-read of the window (the backfill's calls for it) from the auditor, plus, only
where they differ, one from the filler. POLYGON_AUDIT_SHARE audits a share of the windows
(chosen by window, the same ones in every run) for users who pay per call."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from polygon_pipeline.chain.exchanges import EXCHANGES, FILL_EXCHANGES, venues_of
from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.chain.leader_logs import split_logs
from polygon_pipeline.chain.ranges import AdaptiveRange
from polygon_pipeline.store.coverage_repo import Span, format_spans, uncovered
from polygon_pipeline.store.fills_repo import FillKey, fill_versions, retract_fills, upsert_fills
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.range_providers_repo import fillers, record_audit
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.head import finalized_head
from polygon_pipeline.sync.reconcile import NothingToFollow, scan, stale_fills

log = logging.getLogger(__name__)

AGREED = "agreed"


@dataclass
class WindowAudit:
    """One window's audit."""

    blocks: Span
    filled_by: list[str]  # as recorded when it was reconciled ("unknown" before 0007)
    audited_by: str | None = None
    skipped: str | None = None  # why it was not audited
    missing: list[FillKey] = field(default_factory=list)  # the store lacked them: written
    auditor_lacks: list[FillKey] = field(default_factory=list)  # the filler still has them
    hash_differences: list[FillKey] = field(default_factory=list)  # stored in another block
    retracted: list[FillKey] = field(default_factory=list)  # neither provider has them
    getlogs_calls: int = 0

    @property
    def agreed(self) -> bool:
        return not (self.missing or self.auditor_lacks or self.hash_differences or self.retracted)

    @property
    def result(self) -> str:
        if self.skipped:
            return f"skipped: {self.skipped}"
        if self.agreed:
            return AGREED
        return (
            f"repaired: {len(self.missing)} missing fills written, {len(self.hash_differences)} "
            f"in another block, {len(self.retracted)} retracted, {len(self.auditor_lacks)} the "
            f"auditor lacks (kept: the filler still returns them)"
        )


@dataclass
class AuditReport:
    windows: list[WindowAudit] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missing(self) -> list[FillKey]:
        return [k for w in self.windows for k in w.missing]

    @property
    def getlogs_calls(self) -> int:
        return sum(w.getlogs_calls for w in self.windows)

    def summary(self) -> str:
        audited = [w for w in self.windows if not w.skipped]
        differed = [w for w in audited if not w.agreed]
        return (
            f"audited {len(audited)} of {len(self.windows)} windows: {len(audited) - len(differed)}"
            f" agreed, {len(differed)} repaired ({len(self.missing)} missing fills written, "
            f"{sum(len(w.retracted) for w in audited)} retracted); {self.getlogs_calls} "
            f"eth_getLogs calls, {self.seconds:.1f}s"
        )


def windows_of(from_block: int, to_block: int, size: int) -> list[Span]:
    """[from_block, to_block] cut at the block windows' edges (multiples of `size`, as
    Dagster's windows of leader_fills)."""
    spans, lo = [], from_block
    while lo <= to_block:
        hi = min(to_block, (lo // size + 1) * size - 1)
        spans.append((lo, hi))
        lo = hi + 1
    return spans


def chosen_for_audit(window: Span, share: float) -> bool:
    """Whether a window is in the audited share: by its first block, so every run (and every
    process) picks the same windows."""
    digest = hashlib.sha256(f"audit:{window[0]}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def auditor_for(filled_by: Sequence[str], labels: Sequence[str]) -> str | None:
    """Another provider than those that filled the window: the first listed that filled none
    of it; if every provider filled part of it (a failover mid-window), the first listed
    that is not the first filler. None with a single provider."""
    others = [label for label in labels if label not in filled_by]
    if others:
        return others[0]
    rest = [label for label in labels if label != (filled_by[0] if filled_by else None)]
    return rest[0] if rest else None


def audit(
    ctx: SyncContext,
    from_block: int,
    to_block: int,
    share: float | None = None,
) -> AuditReport:
    """Audit every window of [from_block, to_block] (clamped to the finalized head: an open
    window is not audited) in the audited share (POLYGON_AUDIT_SHARE by default)."""
    began = time.monotonic()
    settings = ctx.settings
    share = settings.audit_share if share is None else share
    head = finalized_head(ctx.rpc, settings.confirmation_blocks)
    report = AuditReport()
    for window in windows_of(from_block, min(to_block, head), settings.partition_window_blocks):
        report.windows.append(audit_window(ctx, window, share))
    report.seconds = time.monotonic() - began
    return report


def audit_window(ctx: SyncContext, window: Span, share: float = 1.0) -> WindowAudit:
    """Re-read one closed window from another provider and repair any difference."""
    exchanges = list(FILL_EXCHANGES)  # the ledgers' transfers are not audited (yet)
    lo, hi = window
    with ctx.engine.connect() as conn:
        leaders = list_leaders(conn)
        filled = sorted(fillers(conn, exchanges, lo, hi)) or ["unknown"]
        holes = uncovered(conn, exchanges, ctx.settings.venues, [window])
    if not leaders:
        raise NothingToFollow("no leaders configured (polygon-pipeline leaders add ADDRESS)")
    result = WindowAudit(window, filled)
    auditor = auditor_for(filled, ctx.rpc.labels())
    if holes:  # an audit proves what was filled; filling is the backfill's
        result.skipped = f"not reconciled yet ({format_spans(holes)}): backfill it first"
    elif auditor is None:
        result.skipped = "one provider configured (POLYGON_RPC_URLS lists one)"
    elif not chosen_for_audit(window, share):
        result.skipped = "not in POLYGON_AUDIT_SHARE"
    if result.skipped:
        return result
    assert auditor is not None
    result.audited_by = auditor
    calls_before = ctx.rpc.calls["eth_getLogs"]
    theirs = _read(ctx.pinned(auditor), leaders, window)
    ours = _stored(ctx, exchanges, leaders, window)
    if _keys(theirs) != ours:
        _repair(ctx, result, theirs, ours, exchanges, leaders)
    result.getlogs_calls = ctx.rpc.calls["eth_getLogs"] - calls_before
    with ctx.engine.begin() as conn:
        record_audit(conn, exchanges, lo, hi, auditor, result.result)
    if not result.agreed:
        log.warning("audit of blocks %d..%d by %s: %s", lo, hi, auditor, result.result)
    return result


def _read(ctx: SyncContext, leaders: list[str], window: Span) -> list[Fill]:
    """Every leader fill of the window as one provider answers (the backfill's queries)."""
    venues = venues_of(list(EXCHANGES), ctx.settings.venues)
    planner = AdaptiveRange(ctx.settings.backfill_max_range)
    found: dict[FillKey, Fill] = {}
    for _lo, _hi, logs, _who in scan(ctx, planner, venues, leaders, [window]):
        fills, _transfers = split_logs(logs)  # the same queries bring the ledgers' transfers
        found.update((f.key, f) for f in fills)
    return list(found.values())


def _keys(fills: Sequence[Fill]) -> dict[FillKey, str]:
    return {f.key: f.block_hash for f in fills}


def _stored(
    ctx: SyncContext, exchanges: list[str], leaders: list[str], window: Span
) -> dict[FillKey, str]:
    """The store's leader fills of the window (as the queries would find them: the maker a
    leader, or the taker when takers are followed), by identity, with their block hash."""
    followed = set(leaders)
    takers = "taker" in ctx.settings.follow_roles.split(",")
    with ctx.engine.connect() as conn:
        rows = fill_versions(conn, exchanges, *window)
    return {
        key: block_hash
        for key, (_n, block_hash, _ts, maker, taker) in rows.items()
        if maker in followed or (takers and taker in followed)
    }


def _repair(
    ctx: SyncContext,
    result: WindowAudit,
    theirs: list[Fill],
    ours: dict[FillKey, str],
    exchanges: list[str],
    leaders: list[str],
) -> None:
    """The window differs: read it again from the providers that filled it, write the union
    of the answers, retract what neither returns and the chain no longer holds."""
    fillers_now = [label for label in result.filled_by if label in ctx.rpc.labels()]
    again: dict[FillKey, Fill] = {}
    for label in fillers_now or [ctx.rpc.labels()[0]]:
        again.update((f.key, f) for f in _read(ctx.pinned(label), leaders, result.blocks))
    union = {**again, **{f.key: f for f in theirs}}
    result.missing = sorted(k for k in union if k not in ours)
    result.hash_differences = sorted(
        k for k, f in union.items() if k in ours and ours[k] != f.block_hash
    )
    result.auditor_lacks = sorted(k for k in ours if k in again and k not in _keys(theirs))
    stale = stale_fills(ctx.engine, ctx.rpc, exchanges, *result.blocks, set(union))
    result.retracted = sorted(key for key, _hash in stale)
    with ctx.engine.begin() as conn:
        retract_fills(conn, stale)
        repaired = [union[k] for k in (*result.missing, *result.hash_differences)]
        upsert_fills(conn, repaired, "backfill")
