"""Throttles and transient failures have separate budgets, and a stop signal cuts any back-off
short: against the devnet's emulator replaying a provider's exact fault sequence, and the
console script as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.governed_http import TRANSIENT_ATTEMPTS
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.rpc import node_block
from polygon_pipeline_tests.helpers.sync import environment, leader_fills, one_store

FIVE_THROTTLES_AND_A_502 = ["429"] * 5 + ["502"]


def test_five_throttles_and_a_502_do_not_fail_a_call(devnet, tmp_path):
    """The reported sequence: five 429s then one 502 made the sixth attempt the last."""
    devnet.configure(fault_plan=FIVE_THROTTLES_AND_A_502, retry_after=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'limiter.db'}", serializable=True)
    rpc = GovernedRpc(devnet.rpc_url, SharedLimiter(engine, 100, 4))
    try:
        assert rpc.block_number() >= 0
    finally:
        rpc.close()
        engine.dispose()
    stats = devnet.stats()
    assert stats["http_429"] == 5 and stats["faults"] == {"502": 1}
    assert stats["served"]["eth_blockNumber"] == 1


def _mined(devnet, blocks: int) -> tuple[int, int]:
    first = devnet.head() + 1
    last = devnet.mine(blocks=blocks, fills_per_block=4)["head"]
    devnet.mine(blocks=FINALITY_DEPTH)  # below the finalized head
    return first, last


def _stored(db_url: str) -> set[tuple[str, int]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}
    finally:
        engine.dispose()


@one_store
def test_a_backfill_under_heavy_throttling_and_5xx_is_exact(devnet, db_url, leaders):
    """A provider pacing us hard (a budget a tenth of our rate, five 429s in a row, then a
    502) and failing now and then (5xx, cut-off and garbage bodies): every throttle is
    waited out, every transient failure retried within its own budget, and the store ends
    equal to the truth."""
    env = environment(devnet, db_url, rpc_max_rps=30, backfill_max_range=10)
    assert run_cli("leaders", "add", *leaders, env=env).returncode == 0
    first, last = _mined(devnet, 40)
    devnet.reset_stats()
    devnet.configure(
        fault_plan=FIVE_THROTTLES_AND_A_502,
        max_rps=3,
        fault_5xx_rate=0.1,
        truncate_rate=0.05,
        malformed_rate=0.05,
    )
    out = run_cli("backfill", "--from-block", str(first), "--to-block", str(last), env=env)
    assert out.returncode == 0, out.stderr
    stats = devnet.stats()
    assert stats["throttled_total"] >= 5 and stats["faults"]["502"] >= 1  # it was hostile
    assert _stored(db_url) == leader_fills(devnet.truth(first, last), set(leaders)) != set()


@one_store
def test_a_provider_failing_every_call_gives_up_after_its_transient_budget(devnet, db_url):
    """Throttles first, then nothing but 5xx: the throttles cost none of the transient
    budget, which ends the call after its failures with one line saying so."""
    devnet.configure(fault_plan=["429"] * 3, retry_after=False, fault_5xx_rate=1.0)
    out = run_cli(
        "backfill", "--from-block", "0", "--to-block", "5", env=environment(devnet, db_url)
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    error = out.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: eth_chainId: HTTP 50")
    assert f"({TRANSIENT_ATTEMPTS} transient failures in this call; giving up)" in error
    stats = devnet.stats()
    assert stats["calls"] == {"eth_chainId": 3 + TRANSIENT_ATTEMPTS}
    assert stats["http_429"] == 3


LONG_RETRY_AFTER_S = 240  # the emulator's Retry-After; the limiter honours up to 300 s
STOP_BOUND_S = 60  # a hang check well inside that window, not a timing claim


@one_store
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_a_backfill_waiting_out_a_retry_after(devnet, db_url, leaders, sig):
    """Every eth_getLogs in flight is told to come back in four minutes: the worker threads
    sleep in their back-off while the main thread waits for them. SIGTERM or Ctrl-C ends the
    backfill at once (it used to wait the pause out: SIGINT) or die without a word (SIGTERM),
    with one line and the shell's status for the signal; nothing is sent after the pause."""
    command = [sys.executable, "-m", "polygon_pipeline", "backfill", "--from-block", "{first}"]
    command += ["--to-block", "{last}"]
    proc = _started_under_a_long_retry_after(devnet, db_url, leaders, command)
    stdout, stderr = _stopped(devnet, proc, sig)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"stopped by {sig.name}:")
    throttled = devnet.stats()["throttled"]["eth_getLogs"]
    assert devnet.stats()["calls"]["eth_getLogs"] == throttled  # none sent after the pause


# A run's termination as Dagster delivers it: its SIGTERM handler raises a BaseException
# (DagsterExecutionInterruptedError) in the main thread, wherever that thread is.
TERMINATED_RUN = """
import signal, sys
from polygon_pipeline.chain.exchanges import EXCHANGES
from polygon_pipeline.settings import load_settings
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline.sync.reconcile import reconcile

class RunTerminated(BaseException):
    pass

def terminate(*_):
    raise RunTerminated

signal.signal(signal.SIGTERM, terminate)
ctx = SyncContext.from_settings(load_settings())
try:
    reconcile(ctx, list(EXCHANGES), int(sys.argv[1]), int(sys.argv[2]))
except RunTerminated:
    print("terminated", flush=True)
    sys.exit(3)
"""


@one_store
def test_a_terminated_run_does_not_wait_out_a_retry_after(devnet, db_url, leaders):
    """The interrupt reaches the main thread, which waits for the requests in flight: they
    stop backing off at once instead of holding the run for the provider's four minutes."""
    command = [sys.executable, "-c", TERMINATED_RUN, "{first}", "{last}"]
    proc = _started_under_a_long_retry_after(devnet, db_url, leaders, command)
    stdout, stderr = _stopped(devnet, proc, signal.SIGTERM)
    assert (proc.returncode, stdout) == (3, "terminated\n"), stderr
    throttled = devnet.stats()["throttled"]["eth_getLogs"]
    assert devnet.stats()["calls"]["eth_getLogs"] == throttled  # none sent after the pause


def _started_under_a_long_retry_after(
    devnet,
    db_url: str,
    leaders: list[str],
    command: list[str],
    method: str = "eth_getLogs",
    **env: str,
) -> subprocess.Popen:
    """Leaders added, 20 blocks of trades mined, every `method` call told to come back in
    LONG_RETRY_AFTER_S; then `command` (`{first}` and `{last}`: the blocks, `{first_time}`:
    the first one's time) started, with
    `env` added to the devnet's environment."""
    env = {**environment(devnet, db_url), **env}
    assert run_cli("leaders", "add", *leaders, env=env).returncode == 0
    first, last = _mined(devnet, 20)
    devnet.reset_stats()
    devnet.configure(
        fault_plan=["429"] * 100,
        fault_plan_method=method,
        planned_retry_after_s=LONG_RETRY_AFTER_S,
    )
    moment = datetime.fromtimestamp(int(node_block(devnet, hex(first))["timestamp"], 16), UTC)
    at = {"first": first, "last": last, "first_time": moment.strftime("%Y-%m-%dT%H:%M:%S")}
    args = [arg.format(**at) for arg in command]
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _stopped(
    devnet, proc: subprocess.Popen, sig: signal.Signals, method: str = "eth_getLogs"
) -> tuple[str, str]:
    """`sig` sent once a `method` request of `proc`'s was throttled; its output when it
    ended."""
    try:
        _wait_for_a_throttle(devnet, proc, method)
        proc.send_signal(sig)
        return proc.communicate(timeout=STOP_BOUND_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_for_a_throttle(devnet, proc: subprocess.Popen, method: str) -> None:
    deadline = time.monotonic() + 120
    while devnet.stats()["throttled"].get(method, 0) == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"no {method} was throttled"
        time.sleep(0.1)


def _one_line_for(sig: signal.Signals, proc: subprocess.Popen, stderr: str) -> None:
    """The command ended with the shell's status for `sig` and one line saying so."""
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"stopped by {sig.name}:")


HISTORY_COMMANDS = {
    "add": ["leaders", "add", "{leader}", "--history-from-block", "{first}"],
    "import": ["leaders", "import", "{file}", "--history-from-block", "{first}"],
    "add by date": ["leaders", "add", "{leader}", "--history-from-date", "{first_time}"],
}


@one_store
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("command", list(HISTORY_COMMANDS))
def test_a_stop_signal_ends_a_leader_history_waiting_out_a_retry_after(
    devnet, db_url, leaders, tmp_path, command, sig
):
    """A leader added with its history, every eth_getLogs told to come back in four
    minutes: Ctrl-C or SIGTERM ends `leaders add|import --history-from-block|--history-from-date`
    at once
    (Ctrl-C used to wait the pause out), with one line and the shell's status. The leader,
    committed before its history (a rerun resumes it: test_leader_history), stays; no fill
    is written."""
    new, file = leaders[0], tmp_path / "leaders.txt"
    file.write_text(f"{new}\n")
    args = [arg.replace("{leader}", new) for arg in HISTORY_COMMANDS[command]]
    args = [arg.replace("{file}", str(file)) for arg in args]
    started = [sys.executable, "-m", "polygon_pipeline", *args]
    proc = _started_under_a_long_retry_after(devnet, db_url, leaders[1:], started)
    _, stderr = _stopped(devnet, proc, sig)
    _one_line_for(sig, proc, stderr)
    stats = devnet.stats()
    assert stats["calls"]["eth_getLogs"] == stats["throttled"]["eth_getLogs"]  # none after
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert new in list_leaders(conn) and fetch_fills(conn) == []
    engine.dispose()


@one_store
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_windows_register_waiting_out_a_retry_after(
    devnet, db_url, leaders, tmp_path, sig
):
    """`windows register` without --to-block asks for the finalized head: under a four
    minutes' Retry-After, Ctrl-C or SIGTERM ends it at once, with one line and the shell's
    status (before: `Aborted!` and 1, or killed without a word), and no window is registered."""
    command = [sys.executable, "-m", "polygon_pipeline", "windows", "register"]
    method = "eth_getBlockByNumber"
    home = tmp_path / "dagster_home"
    home.mkdir()
    proc = _started_under_a_long_retry_after(
        devnet, db_url, leaders, command, method, DAGSTER_HOME=str(home)
    )
    _, stderr = _stopped(devnet, proc, sig, method)
    _one_line_for(sig, proc, stderr)
    assert stderr.strip().splitlines()[-1] == f"stopped by {sig.name}: no window registered"
    from dagster import DagsterInstance

    from polygon_pipeline.defs.fills.partitions import window_partitions

    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions(window_partitions.name) == []
