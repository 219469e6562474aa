"""`make demo` as a user runs it, and stops it: `kill` of the make process stops the demo and
everything it started (the devnet and anvil, the watcher, dagster dev and its daemons, the
Data API poller); nothing is orphaned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline_tests.helpers.dagster_dev import ROOT
from polygon_pipeline_tests.helpers.watcher_process import wait_for
from polygon_pipeline_tests.test_devnet_lifecycle import _alive, _wait_gone

READY = "Press Ctrl-C to stop."


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through /proc's parent links."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _states(make_pid: int, output: list[str]) -> str:
    """What a stop that hangs looks like: each process's state and signal masks, and the
    demo's last words."""
    lines = []
    for pid in [make_pid, *sorted(_descendants(make_pid))]:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:80]
            wanted = ("State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
            fields = [line.replace("\t", " ") for line in status if line.startswith(wanted)]
            lines.append(f"{pid} {command.decode(errors='replace')}: {'; '.join(fields)}")
    return "\n".join(lines + ["output:", *output[-15:]])


def test_killing_make_demo_stops_everything_it_started(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DAGSTER_"))}
    env.update(
        POLYGON_PIPELINE_DB_URL=f"sqlite:///{tmp_path / 'demo.db'}",
        POLYGON_WATCH_HEALTH_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    args = f"--state-dir {tmp_path / 'devnet'} --port 0 --dagster-port {free_port()}"
    make = subprocess.Popen(
        ["make", "-s", "demo", f"DAGSTER_HOME_DIR={tmp_path / 'home'}", f"DEMO_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as in a terminal of its own: only `kill` reaches it
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(make.stdout), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        wait_for(lambda: any(READY in line for line in output), 240, "the demo up", every=1)
        wait_for(lambda: len(_descendants(make.pid)) >= 6, 120, "the demo's processes", every=1)
        started = _descendants(make.pid)
        make.send_signal(signal.SIGTERM)  # `kill <make's pid>`: make alone gets the signal
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make still running 60 s after SIGTERM: {_states(make.pid, output)}")
        assert all(_wait_gone(pid, timeout=60) for pid in started), [
            pid for pid in started if _alive(pid)
        ]
    finally:
        for pid in started | _descendants(make.pid) | {make.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
