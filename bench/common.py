"""Shared benchmark plumbing: a devnet in a temp folder, databases, markdown output."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline_tests.helpers.scratch_db import scratch_postgres

if TYPE_CHECKING:
    from polygon_pipeline.sync.context import SyncContext


@contextlib.contextmanager
def running_devnet(*args: str) -> Iterator[DevnetHandle]:
    with tempfile.TemporaryDirectory(prefix="pp-bench-") as tmp:
        handle = start_devnet(Path(tmp) / "devnet", *args)
        try:
            yield handle
        finally:
            handle.stop()


@contextlib.contextmanager
def scratch_databases() -> Iterator[dict[str, str]]:
    """A fresh SQLite file and a fresh PostgreSQL database, dropped afterwards."""
    with scratch_postgres("pp_bench") as pg_url, tempfile.TemporaryDirectory() as tmp:
        yield {"sqlite": f"sqlite:///{tmp}/bench.db", "postgresql": pg_url}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def store_with_leaders(db_url: str, leaders: list[str]):
    """The store at `db_url` (schema created) with `leaders` to follow; the caller disposes."""
    from polygon_pipeline.store.engine import make_engine
    from polygon_pipeline.store.leaders_repo import add_leaders

    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    return engine


def sync_context(devnet: DevnetHandle, db_url: str, leaders: list[str], **settings: object):
    """A SyncContext on `devnet` and `db_url` with `leaders` loaded, configured like a user
    would: through POLYGON_* variables."""
    from polygon_pipeline.settings import load_settings
    from polygon_pipeline.sync.context import SyncContext

    os.environ.clear()
    os.environ.update(devnet.pipeline_env(db_url, **settings))
    store_with_leaders(db_url, leaders).dispose()
    return SyncContext.from_settings(load_settings())


@contextlib.contextmanager
def scratch_sync(
    devnet: DevnetHandle, leaders: list[str], **settings: object
) -> Iterator[SyncContext]:
    """sync_context on an empty SQLite store of its own (gone afterwards), unthrottled by
    the pipeline's own rate limit: a fresh start for each configuration compared."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = sync_context(devnet, f"sqlite:///{tmp}/e.db", leaders, rpc_max_rps=1000, **settings)
        try:
            yield ctx
        finally:
            ctx.close()


MINE_PER_REQUEST = 1000  # blocks per control request, well within its timeout


def mine_buried(devnet: DevnetHandle, blocks: int, per_block: int) -> tuple[int, int]:
    """Mine `blocks` blocks of trades and bury them below the finalized head."""
    start = devnet.head() + 1
    for done in range(0, blocks, MINE_PER_REQUEST):
        end = devnet.mine(blocks=min(MINE_PER_REQUEST, blocks - done), fills_per_block=per_block)
    devnet.mine(blocks=FINALITY)
    return start, end["head"]


@dataclass
class Stage:
    """A devnet, a fresh store with the devnet's leaders, a folder for logs, a health port."""

    devnet: DevnetHandle
    db_url: str
    engine: Engine
    leaders: list[str]
    logs: Path
    health_port: int

    def env(self, **settings: object) -> dict[str, str]:
        """The environment of pipeline processes on this stage."""
        return self.devnet.pipeline_env(self.db_url, watch_health_port=self.health_port, **settings)


@contextlib.contextmanager
def stage(store: str) -> Iterator[Stage]:
    """Everything a watcher benchmark starts from, on `store` ("sqlite" or "postgresql")."""
    from polygon_pipeline.devnet.anvil import free_port

    with (
        running_devnet() as devnet,
        scratch_databases() as urls,
        tempfile.TemporaryDirectory() as tmp,
    ):
        leaders = devnet.info()["leaders"]
        engine = store_with_leaders(urls[store], leaders)
        try:
            yield Stage(devnet, urls[store], engine, leaders, Path(tmp), free_port())
        finally:
            engine.dispose()


@contextlib.contextmanager
def pipeline_process(
    subcommand: str, env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen]:
    """`polygon-pipeline <subcommand>` in the background for the duration of the block."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polygon_pipeline", subcommand],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_backfills(
    spans: list[tuple[int, int]], env: dict[str, str], code: Path | str | None
) -> None:
    """One `polygon-pipeline backfill` process per block span, all at once, with the code
    in `code` (None: this checkout); raises with a failed process's stderr."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "polygon_pipeline", "backfill"]
            + ["--from-block", str(lo), "--to-block", str(hi)],
            env=env,
            cwd=code,  # `python -m` imports the package from its working folder first
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for lo, hi in spans
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(err)


def wait_healthy(port: int, devnet: DevnetHandle, timeout: float = 60) -> dict:
    """The watcher's health once it is live; on a manually mined devnet, one empty block a
    second while it waits for the first head of its connection."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            resp = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if resp.status_code == 200:
                return resp.json()
            if "no new head received" in (resp.json()["reason"] or ""):
                devnet.mine(blocks=1, fills_per_block=0)
                time.sleep(0.8)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("the watcher did not become healthy")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
