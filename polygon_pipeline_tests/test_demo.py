"""`make demo` as a user runs it, and stops it: `kill` of the make process stops the demo and
everything it started (the devnet and anvil, the watcher, dagster dev and its daemons, the
Data API poller), each by its own SIGTERM handling; nothing is orphaned. Its ports move with
options, a taken one stops it before anything starts, and a process that dies stops it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
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
from polygon_pipeline_tests.helpers.processes import alive, command_line, descendants, wait_gone
from polygon_pipeline_tests.helpers.watcher_process import wait_for

READY = "Press Ctrl-C to stop."
MAINNET_LEADER = "0x" + "a1" * 20
# A mainnet-like chain identity: any genesis hash other than the devnet's.
POLYGON_GENESIS = "0xa9c28ce2141b56c474f1dc504bee9b01eb1bd7d1a507580d5519d4437a97de1b"


def _states(make_pid: int, output: list[str]) -> str:
    """What a stop that hangs looks like: each process's state and signal masks, and the
    demo's last words."""
    lines = []
    for pid in [make_pid, *sorted(descendants(make_pid))]:
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
        POLYGON_WATCH_HEALTH_PORT="1",  # the demo's --health-port, not this, decides
        PYTHONUNBUFFERED="1",
    )
    before = {path: _digest(path) for path in (user_store, default_store)}
    assert None not in before.values()
    state_dir = tmp_path / "devnet"
    health, ui = free_port(), free_port()
    # A long grace: this asserts that each process stops by its own SIGTERM handling, not how
    # fast (a Dagster run starting on a loaded machine takes its time; bench/demo_promises.py
    # times the default grace's stop).
    args = (
        f"--state-dir {state_dir} --port 0 --dagster-port {ui} --health-port {health} "
        "--stop-grace 180"
    )
    make = subprocess.Popen(
        ["make", "-s", "demo", f"DEMO_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # as in a terminal of its own: only `kill` reaches it
        # SIGINT ignored, as for `make demo &` from a script: `dagster dev` then ignored
        # SIGTERM too, and went only at the SIGKILL.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(make.stdout), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        wait_for(lambda: any(READY in line for line in output), 240, "the demo up", every=1)
        wait_for(lambda: len(descendants(make.pid)) >= 6, 120, "the demo's processes", every=1)
        wait_for(lambda: _demo_fills(state_dir) > 0, 120, "fills in the demo's store", every=1)
        # The banner advertises the ports it was given, and they answer.
        banner = "".join(output)
        for url in (f"http://127.0.0.1:{health}/healthz", f"http://127.0.0.1:{ui}"):
            assert url in banner
            assert requests.get(url, timeout=10).status_code in (200, 503)
        started = descendants(make.pid)
        make.send_signal(signal.SIGTERM)  # `kill <make's pid>`: make alone gets the signal
        try:
            make.wait(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make still running 240 s after SIGTERM: {_states(make.pid, output)}")
        assert all(wait_gone(pid, timeout=60) for pid in started), [
            pid for pid in started if alive(pid)
        ]
        assert {path: _digest(path) for path in before} == before
        assert not (tmp_path / "users_dagster_home").exists()
        # Each stopped by its own SIGTERM handling, none at the grace period's SIGKILL.
        (stopped,) = [line for line in output if line.startswith("stopped: ")]
        assert "SIGKILL" not in stopped, stopped
        for name in ("devnet", "watcher", "Dagster (dagster dev)", "Data API poller"):
            assert f"{name} exit 0" in stopped, stopped
        poller_said = (state_dir / "api-poll.log").read_text().strip().splitlines()[-1]
        assert poller_said == "stopped by SIGTERM: the trades stored so far are kept"
    finally:
        for pid in started | descendants(make.pid) | {make.pid}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _clean_env() -> dict[str, str]:
    """This process's environment less every POLYGON_* and DAGSTER_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DAGSTER_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _demo(state_dir: Path, **ports: int) -> list[str]:
    """`polygon-pipeline demo` on `ports` (option name without dashes: number), free ones for
    the others."""
    chosen = {"port": 0, "dagster_port": free_port(), "health_port": free_port(), **ports}
    args = [f"--{name.replace('_', '-')}={number}" for name, number in chosen.items()]
    return [sys.executable, "-m", "polygon_pipeline", "demo", "--state-dir", str(state_dir), *args]


@pytest.mark.parametrize("option", ["port", "dagster_port", "health_port"])
def test_a_taken_port_stops_the_demo_at_once_with_one_line(tmp_path, option):
    """A port in use (here held by a listening socket) stops the demo before it starts
    anything, naming the port and the option that moves it (with 8787 taken the watcher
    died, and the demo ran on advertising it)."""
    state_dir = tmp_path / "devnet"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = subprocess.run(
            _demo(state_dir, **{option: taken}),
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    flag = "--" + option.replace("_", "-")
    assert result.returncode == 1
    assert (result.stdout, len(result.stderr.splitlines())) == ("", 1), result.stderr
    assert result.stderr.startswith(f"Error: port {taken} (")
    assert f'is taken: move it with make demo DEMO_ARGS="{flag} <port>"' in result.stderr
    assert not state_dir.exists()  # nothing was started


def test_a_process_that_dies_stops_the_demo_saying_which(tmp_path):
    """The watcher killed under the running demo: the demo says which process ended and how,
    in one line, stops everything else and exits 1 (it ran on without its watcher)."""
    demo = subprocess.Popen(
        _demo(tmp_path / "devnet"),
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True).start()
    started: set[int] = set()
    try:
        wait_for(lambda: any(READY in line for line in output), 240, "the demo up", every=1)
        started = descendants(demo.pid)
        (watcher,) = [p for p in started if "polygon_pipeline watch" in command_line(p)]
        os.kill(watcher, signal.SIGKILL)
        demo.wait(timeout=120)
        assert demo.returncode == 1
        (error,) = [line for line in output if line.startswith("Error:")]
        assert error.startswith("Error: the watcher ended (by SIGKILL)"), error
        assert error.rstrip().endswith("; stopping the demo"), error
        assert all(wait_gone(pid, timeout=60) for pid in started)
    finally:
        for pid in started | descendants(demo.pid) | {demo.pid}:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
