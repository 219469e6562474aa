"""`polygon-pipeline watch` as a real process, and waiting on what it writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from sqlalchemy import Engine, text

from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline.devnet.handle import DevnetHandle

# How long a watcher may take to start and report healthy, or to show a state the test
# waits for: generous, because the default run shares 2 cores between 4 workers (a Python
# start that imports web3 alone can take tens of seconds then). A bound, never a measure.
SETTLE_S = 120

WATCH_SETTINGS = {
    "watch_silence_s": 2,
    "watch_leaders_poll_s": 0.5,
    "watch_reconnect_max_s": 1,
    "rpc_max_rps": 200,
}


class WatcherProcess:
    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        cwd: Path | None = None,
        devnet: DevnetHandle | None = None,
    ):
        """`cwd`: the working directory it runs in (a machine's own); this process's if None.
        `devnet`: a manually mined devnet, given an empty block when the watcher waits for
        its first head (it is healthy only once a head arrived on its connection)."""
        self.devnet = devnet
        self._nudged_at = 0.0
        self.port = free_port()
        self.env = {**env, "POLYGON_WATCH_HEALTH_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "polygon_pipeline", "watch"],
            cwd=cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def health(self) -> tuple[int, dict] | None:
        try:
            resp = requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
        except requests.RequestException:
            return None
        return resp.status_code, resp.json()

    def metrics(self) -> str:
        return requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text

    def wait_healthy(self, timeout: float = SETTLE_S) -> dict:
        return wait_for(
            lambda: (h := self.health()) and (h[1] if h[0] == 200 else self._nudge(h[1])),
            timeout,
            f"watcher healthy ({self.output()[-2000:]})",
        )

    def _nudge(self, status: dict) -> None:
        """Subscribed but no head yet on a manually mined devnet: an empty block (at most one
        a second, so the head of the last one has time to arrive)."""
        waiting = status["connected"] and "no new head received" in (status["reason"] or "")
        if self.devnet is not None and waiting and time.monotonic() > self._nudged_at + 1:
            self._nudged_at = time.monotonic()
            self.devnet.mine(blocks=1, fills_per_block=0)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    """Poll `check` until it returns something truthy; bounded, fails saying what it awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {what}")


def terminate_lock_holder(engine: Engine) -> None:
    """PostgreSQL: terminate the server process holding this database's advisory lock (the
    watcher lease), as an administrator or a failover would, and wait until it has exited.
    `pg_terminate_backend(pid)` alone returns once the signal is sent: on a loaded machine
    the backend still held its lock for a moment after (19 of 200 tries, 3 CPU burners on
    2 cores), and a fence checked then rightly found the lease held. With a timeout it waits
    for the exit (PostgreSQL 14+), which releases the lock first."""
    with engine.connect() as conn:
        (pid,) = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalars()
        exited = conn.execute(
            text("SELECT pg_terminate_backend(:pid, :ms)"), {"pid": pid, "ms": SETTLE_S * 1000}
        ).scalar_one()
        assert exited, f"backend {pid} still running {SETTLE_S}s after pg_terminate_backend"
