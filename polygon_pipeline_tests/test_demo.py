"""`make demo` as a user runs it, and stops it: `kill` of the make process stops the demo and
everything it started (the devnet and anvil, the watcher, dagster dev and its daemons, the
Data API poller); nothing is orphaned."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline.devnet.state_files import store_file
from polygon_pipeline.settings import DEFAULT_DB_PATH
from polygon_pipeline.store import chain_identity_repo
from polygon_pipeline.store.chain_identity_repo import ChainIdentity
from polygon_pipeline.store.engine import make_engine, remove_sqlite_store
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline_tests.helpers.dagster_dev import ROOT
from polygon_pipeline_tests.helpers.watcher_process import wait_for
from polygon_pipeline_tests.test_devnet_lifecycle import _alive, _wait_gone

READY = "Press Ctrl-C to stop."
MAINNET_LEADER = "0x" + "a1" * 20
# A mainnet-like chain identity: any genesis hash other than the devnet's.
POLYGON_GENESIS = "0xa9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b"


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


def _user_store(path: Path) -> str:
    """A store as a user's mainnet deployment left it: leaders, a fill, Polygon's identity."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with engine.begin() as conn:
        add_leaders(conn, [MAINNET_LEADER])
        chain_identity_repo.record(conn, ChainIdentity(POLYGON_CHAIN_ID, POLYGON_GENESIS))
    engine.dispose()
    return url


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _demo_fills(state_dir: Path) -> int:
    engine = make_engine(f"sqlite:///{store_file(state_dir)}", create_schema=False)
    try:
        with engine.connect() as conn:
            return len(fetch_fills(conn))
    except OperationalError:  # not created yet
        return 0
    finally:
        engine.dispose()


@pytest.fixture
def default_store() -> Iterator[Path]:
    """The clone's default store (`.data/polygon_pipeline.db`) holding mainnet-like data: a
    developer's own file is left as it is; otherwise one is made for the test and removed."""
    path = ROOT / DEFAULT_DB_PATH
    if path.exists():
        yield path
        return
    made_folder = not path.parent.exists()
    _user_store(path)
    try:
        yield path
    finally:
        remove_sqlite_store(path)
        if made_folder:
            path.parent.rmdir()


def test_killing_make_demo_stops_everything_it_started(tmp_path, default_store):
    """Also: the demo writes its own store, never the user's (the default one, or one named
    in the environment), byte for byte."""
    user_store = tmp_path / "mainnet.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DAGSTER_"))}
    env.update(
        POLYGON_PIPELINE_DB_URL=_user_store(user_store),
        DAGSTER_HOME=str(tmp_path / "users_dagster_home"),
        POLYGON_WATCH_HEALTH_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    before = {path: _digest(path) for path in (user_store, default_store)}
    assert None not in before.values()
    state_dir = tmp_path / "devnet"
    args = f"--state-dir {state_dir} --port 0 --dagster-port {free_port()}"
    make = subprocess.Popen(
        ["make", "-s", "demo", f"DEMO_ARGS={args}"],
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
        wait_for(lambda: _demo_fills(state_dir) > 0, 120, "fills in the demo's store", every=1)
        started = _descendants(make.pid)
        make.send_signal(signal.SIGTERM)  # `kill <make's pid>`: make alone gets the signal
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make still running 60 s after SIGTERM: {_states(make.pid, output)}")
        assert all(_wait_gone(pid, timeout=60) for pid in started), [
            pid for pid in started if _alive(pid)
        ]
        assert {path: _digest(path) for path in before} == before
        assert not (tmp_path / "users_dagster_home").exists()
    finally:
        for pid in started | _descendants(make.pid) | {make.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
