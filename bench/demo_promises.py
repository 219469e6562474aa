"""What `polygon-pipeline demo` does for a new user, timed from its start: the banner, the
watcher healthy, the first live fill, `api_trades` in Dagster, the first block window
materialized and its checks evaluated, and whether every cell materialized has its per-cell
checks' verdicts from the run that materialized it; then a SIGTERM, and when each process it
started is gone. The README's demo paragraph states these figures (BENCHMARKS.md, section 14).

    .venv/bin/python -m bench.demo_promises --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import markdown_table
from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline_tests.helpers.processes import alive, command_line, descendants

READY = "Press Ctrl-C to stop."
# What each process is, by a piece of its command line (first match wins).
KINDS = (
    ("devnet up", "devnet"),
    ("anvil", "anvil"),
    ("polygon_pipeline watch", "watcher"),
    ("polygon_pipeline api-poll", "api-poll"),
    ("dagster dev", "dagster dev"),
    ("dagster_webserver", "webserver"),
    ("dagster._daemon", "daemon"),
    ("code-server", "code server"),
    ("api grpc", "code server"),
    ("execute_run", "run worker"),
    ("polygon_pipeline demo", "demo"),
)


def _kind(pid: int) -> str:
    line = command_line(pid)
    return next((kind for piece, kind in KINDS if piece in line), line[:40] or "?")


def _first_materialization(instance, asset: str) -> float | None:
    from dagster import AssetKey

    records = instance.fetch_materializations(AssetKey(asset), limit=1, ascending=True).records
    return records[0].timestamp if records else None


def _check_evaluations(instance, asset: str, limit: int = 10_000) -> list:
    """Every check evaluation on `asset`, oldest first. (Filtered here: Dagster 1.13 stores
    check evaluation events without the asset key an EventRecordsFilter matches on, so a
    filter naming it finds none.)"""
    import warnings

    from dagster import AssetKey, DagsterEventType, EventRecordsFilter

    evaluated = EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION)
    with warnings.catch_warnings():  # no fetch_* for check evaluations in Dagster 1.13
        warnings.simplefilter("ignore")
        records = instance.get_event_records(evaluated, limit=limit, ascending=True)
    key = AssetKey(asset)
    return [
        r for r in records if r.event_log_entry.dagster_event.event_specific_data.asset_key == key
    ]


def _first_passed_check(instance, asset: str) -> float | None:
    """The wall time of the first check evaluation on `asset` that passed."""
    for record in _check_evaluations(instance, asset):
        if record.event_log_entry.dagster_event.event_specific_data.passed:
            return record.timestamp
    return None


def _cells_checked(instance) -> dict[str, float | None]:
    """Of the `leader_fills` cells that finished runs materialized: how many, how many have
    both per-cell checks evaluated in the run that materialized them, how many passed both,
    and the longest wait from a cell's materialization to its last check evaluation (s)."""
    from dagster import AssetKey

    from polygon_pipeline.defs.fills.checks import CELL_CHECKS

    names = {check_key.name for check in CELL_CHECKS for check_key in check.check_keys}
    cells = {
        (r.partition_key, r.run_id): r.timestamp
        for r in instance.fetch_materializations(AssetKey("leader_fills"), limit=10_000).records
        if (run := instance.get_run_by_id(r.run_id)) and run.is_finished
    }
    verdicts: dict[tuple[str, str], dict[str, tuple[bool, float]]] = {}
    for record in _check_evaluations(instance, "leader_fills"):
        data = record.event_log_entry.dagster_event.event_specific_data
        if data.check_name in names and data.partition:
            cell = (data.partition, record.event_log_entry.run_id)
            verdicts.setdefault(cell, {})[data.check_name] = (data.passed, record.timestamp)
    checked = {cell for cell in cells if verdicts.get(cell, {}).keys() == names}
    waits = [max(t for _, t in verdicts[c].values()) - cells[c] for c in checked]
    return {
        "cells materialized (finished runs)": len(cells),
        "cells with both checks in their run": len(checked),
        "cells passing both": sum(all(p for p, _ in verdicts[c].values()) for c in checked),
        "longest materialization to checks (s)": max(waits, default=None),
    }


def _dagster_milestones(instance, seen: dict[str, float | None]) -> None:
    for key, find, asset in (
        ("api_trades in Dagster", _first_materialization, "api_trades"),
        ("first window materialized", _first_materialization, "leader_fills"),
        ("first window check passed", _first_passed_check, "leader_fills"),
    ):
        seen[key] = seen[key] or find(instance, asset)


def _first_fill(db: Path) -> float | None:
    import sqlite3

    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            live = "SELECT min(first_seen_at) FROM fills WHERE source = 'ws'"
            (first,) = conn.execute(live).fetchone()
        except sqlite3.OperationalError:
            return None
    if first is None:
        return None
    from datetime import datetime

    return datetime.fromisoformat(str(first)).timestamp()


def one_run(limit_s: float, hold_s: float = 0.0) -> dict[str, float | None]:
    """Start the demo on free ports, wait for every milestone (at most `limit_s`) and then
    `hold_s` more (more windows), stop it."""
    from dagster import DagsterInstance

    with tempfile.TemporaryDirectory(prefix="pp-demo-") as tmp:
        state = Path(tmp) / "devnet"
        health = free_port()
        args = ["--state-dir", str(state), "--port", "0"]
        args += ["--dagster-port", str(free_port()), "--health-port", str(health)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DAGSTER_"))}
        started = time.time()
        demo = subprocess.Popen(
            [sys.executable, "-m", "polygon_pipeline", "demo", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True).start()
        seen: dict[str, float | None] = dict.fromkeys(
            ("banner", "healthy", "first live fill", "api_trades in Dagster"), None
        )
        seen |= {"first window materialized": None, "first window check passed": None}
        instance = None
        try:
            while None in seen.values() and time.time() - started < limit_s:
                assert demo.poll() is None, "".join(output[-20:])
                now = time.time()
                if seen["banner"] is None and any(READY in line for line in output):
                    seen["banner"] = now
                if seen["healthy"] is None:
                    with contextlib.suppress(requests.RequestException):
                        if requests.get(f"http://127.0.0.1:{health}/healthz", timeout=2).ok:
                            seen["healthy"] = now
                seen["first live fill"] = seen["first live fill"] or _first_fill(
                    state / "pipeline.db"
                )
                home = state / "dagster_home"
                if instance is None and seen["banner"]:
                    instance = DagsterInstance.from_config(str(home))
                if instance is not None:
                    _dagster_milestones(instance, seen)
                time.sleep(0.5)
            time.sleep(hold_s)
            cells = _cells_checked(instance) if instance is not None else {}
            stops = _stop(demo)
            print("".join(output[-12:]), file=sys.stderr)  # the demo's last words, to check
        finally:
            for pid in descendants(demo.pid) | {demo.pid}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if instance is not None:
                instance.dispose()
        return {k: None if v is None else v - started for k, v in seen.items()} | cells | stops


def _stop(demo: subprocess.Popen) -> dict[str, float | None]:
    """SIGTERM to the demo as `kill` sends it; when each kind of process it started is gone
    (the slowest of that kind), and the demo itself."""
    kinds = {pid: _kind(pid) for pid in descendants(demo.pid)}
    sent = time.monotonic()
    demo.send_signal(signal.SIGTERM)
    gone: dict[int, float] = {}
    while len(gone) < len(kinds) or demo.poll() is None:
        for pid in kinds.keys() - gone.keys():
            if not alive(pid):
                gone[pid] = time.monotonic() - sent
        if time.monotonic() - sent > 120:
            break
        time.sleep(0.05)
    demo.wait(timeout=30)
    figures: dict[str, float | None] = {"stop: demo exited": time.monotonic() - sent}
    for pid, kind in kinds.items():
        key = f"stop: {kind}"
        figures[key] = max(figures.get(key) or 0.0, gone.get(pid, float("inf")))
    return figures


def _fmt(value: float | None) -> str:
    if isinstance(value, int):  # a count
        return str(value)
    return "never" if value is None else ("not gone" if value == float("inf") else f"{value:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit-s", type=float, default=600.0, help="Per milestone wait bound.")
    parser.add_argument(
        "--hold-s", type=float, default=0.0, help="Keep the demo up this long after them."
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs = [one_run(args.limit_s, args.hold_s) for _ in range(args.runs)]
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    keys = list(dict.fromkeys(k for run in runs for k in run))
    rows = [[k, *(_fmt(run.get(k)) for run in runs)] for k in keys]
    cores = os.cpu_count()
    print(f"seconds from `demo`'s start (milestones) or from its SIGTERM (stop), {cores} cores")
    print(markdown_table(["", *(f"run {i + 1}" for i in range(len(runs)))], rows))


if __name__ == "__main__":
    main()
