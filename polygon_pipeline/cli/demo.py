"""`polygon-pipeline demo`: bring the whole project up on the devnet and say where to look."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from polygon_pipeline.cli.common import fail
from polygon_pipeline.cli.demo_ports import HOST, DemoPort, refuse_taken
from polygon_pipeline.devnet.state_files import DEFAULT_STATE_DIR, env_file
from polygon_pipeline.lifecycle import die_with_parent

if TYPE_CHECKING:
    from polygon_pipeline.devnet.handle import DevnetHandle


@click.command()
@click.option("--block-time", default=2.0, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
)
@click.option(
    "--port",
    default=8545,
    show_default=True,
    help="The devnet's port: RPC, WebSocket, control API, Data API stand-in (0: any free one).",
)
@click.option(
    "--dagster-port", default=3000, show_default=True, help="The Dagster UI's port (0: any)."
)
@click.option(
    "--health-port",
    default=8787,
    show_default=True,
    help="The live watcher's /healthz and /metrics port (0: any free one).",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds every process gets to stop after SIGTERM before SIGKILL (a Dagster run "
    "that was starting ends first, slower on a busy machine).",
)
def demo(
    block_time: float,
    state_dir: Path,
    port: int,
    dagster_port: int,
    health_port: int,
    stop_grace: float,
) -> None:
    """Start the devnet, load its sample leaders, run the live watcher, Dagster and the Data
    API poller (against the devnet's stand-in); until Ctrl-C, or until one of them ends."""
    from polygon_pipeline.devnet.handle import start_devnet

    devnet_port = DemoPort("--port", "the devnet's RPC, WebSocket and APIs", port)
    ui_port = DemoPort("--dagster-port", "the Dagster UI", dagster_port)
    watcher_port = DemoPort("--health-port", "the watcher's /healthz", health_port)
    refuse_taken([devnet_port, ui_port, watcher_port])  # before anything starts
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    die_with_parent()  # `kill` of `make demo` stops the demo too
    try:
        devnet = start_devnet(
            state_dir, block_time=block_time, port=port, log_to_file=False, own_group=True
        )
    except RuntimeError as exc:
        raise fail(exc) from None
    running = [_Service("devnet", devnet.proc, None)]
    try:
        _run(devnet, state_dir, ui_port.resolved(), watcher_port.resolved(), running)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(running, stop_grace)


@dataclass(frozen=True)
class _Service:
    name: str
    proc: subprocess.Popen
    log: Path | None  # None: its output is the demo's own

    def ended(self) -> str | None:
        """None while it runs; else one line: its exit status and its log's last line."""
        if self.proc.poll() is None:
            return None
        said = ""
        if self.log is not None and self.log.exists():
            lines = self.log.read_text(errors="replace").strip().splitlines()
            said = f": {lines[-1][:300]}" if lines else ""
        where = f" (log: {self.log})" if self.log else ""
        return f"the {self.name} ended ({_status(self.proc.returncode)}){said}{where}"


def _run(
    devnet: DevnetHandle,
    state_dir: Path,
    dagster_port: int,
    health_port: int,
    running: list[_Service],
) -> None:
    """Load the sample leaders, start the watcher, Dagster and the poller (each added to
    `running` as it starts), wait until their ports answer, say where everything is, and
    wait until one of them ends."""
    from polygon_pipeline.settings import load_settings
    from polygon_pipeline.store.engine import make_engine
    from polygon_pipeline.store.leaders_repo import add_leaders, read_leader_file

    os.environ.update(devnet.env)  # the devnet's own store: never the user's default one
    settings = load_settings()
    home = _fresh_dagster_home(state_dir)
    with make_engine(settings.database_url).begin() as conn:
        added = add_leaders(
            conn, read_leader_file((state_dir / "leaders.txt").read_text()), label="devnet sample"
        )
    # Small windows and a one-minute reconciliation so a new user sees things move at once.
    demo_env = {
        **os.environ,
        "POLYGON_PARTITION_WINDOW_BLOCKS": "50",
        "POLYGON_PARTITIONS_START_BLOCK": "0",
        "POLYGON_RECONCILE_CRON": "* * * * *",
        "POLYGON_WATCH_HEALTH_HOST": HOST,
        "POLYGON_WATCH_HEALTH_PORT": str(health_port),
        "DAGSTER_HOME": str(home),
    }
    watcher = _spawn(
        "watcher",
        ["watch"],
        {**demo_env, "POLYGON_BACKFILL_ON_STARTUP": "true"},
        state_dir / "watcher.log",
    )
    running.append(watcher)
    dagster = _spawn_dagster(demo_env, dagster_port, state_dir / "dagster.log")
    running.append(dagster)
    running.append(_spawn("Data API poller", ["api-poll"], demo_env, state_dir / "api-poll.log"))
    health_url = f"http://{HOST}:{health_port}/healthz"
    ui_url = f"http://{HOST}:{dagster_port}"
    _wait_serving(running, {watcher: health_url, dagster: f"{ui_url}/server_info"})
    described = settings.describe()
    control = os.environ["POLYGON_DEVNET_CONTROL_URL"]
    click.echo(
        "\npolygon_pipeline demo is running:\n"
        f"  devnet RPC (emulated provider): {described['rpc_url']}"
        f"  (full URLs in {env_file(state_dir)})\n"
        f"  devnet control API:             {control}/_devnet/info\n"
        f"  provider counters:              {control}/_devnet/stats\n"
        f"  database:                       {described['db_url']} ({added} sample leaders added)\n"
        f"  live watcher:                   {health_url}  (log: {state_dir / 'watcher.log'})\n"
        f"  Dagster UI:                     {ui_url}  "
        f"(instance: {home}, log: {state_dir / 'dagster.log'})\n"
        "  check everything:               ( set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline doctor )\n"
        "  leader trades, with markets:    ( set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline markets sync && .venv/bin/polygon-pipeline trades )\n"
        "Press Ctrl-C to stop.\n"
    )
    while not (why := _first_ended(running)):
        time.sleep(POLL_S)
    raise fail(f"{why}; stopping the demo")


POLL_S = 0.5
SERVING_TIMEOUT_S = 300.0  # dagster dev on a loaded 2-core machine: a minute or more


def _first_ended(running: list[_Service]) -> str | None:
    return next((why for service in running if (why := service.ended())), None)


def _wait_serving(running: list[_Service], urls: dict[_Service, str]) -> None:
    """Wait until every URL answers (any HTTP status: the watcher's health says 503 until its
    first head); stop at once, saying why, if a process ends first."""
    import requests

    deadline = time.monotonic() + SERVING_TIMEOUT_S
    waiting = dict(urls)
    while waiting:
        if why := _first_ended(running):
            raise fail(f"{why}; stopping the demo")
        for service, url in list(waiting.items()):
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=2)
                del waiting[service]
        if waiting and time.monotonic() > deadline:
            service, url = next(iter(waiting.items()))
            raise fail(f"the {service.name} did not answer on {url} (log: {service.log})")
        time.sleep(POLL_S)


def _fresh_dagster_home(state_dir: Path) -> Path:
    """The demo's own Dagster instance, new with each devnet (its runs and windows describe
    that chain only, and a user's DAGSTER_HOME is never touched), from the project's
    dagster.yaml."""
    from dagster import DagsterInstance

    home = (state_dir / "dagster_home").resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(WORKSPACE.with_name("dagster.yaml"), home / "dagster.yaml")
    # Its SQLite storages created here, once: the watcher, the poller and dagster dev each
    # creating them at the same moment raced in Dagster's own migrations ("alembic_version
    # has more than one head"), and the loser died.
    with DagsterInstance.from_config(str(home)) as instance:
        _created = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    return home


def _stop_all(running: list[_Service], grace_s: float) -> None:
    """SIGTERM to every process group at once, one shared grace period, then SIGKILL to
    every group with something left: stopping takes as long as the slowest, not the sum.
    Says how each ended, so a process that needed the SIGKILL is seen. A second Ctrl-C or
    SIGTERM (or the parent's death) while it waits changes nothing: it left Dagster's
    processes running before."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    for service in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    ends = []
    for service in running:
        try:
            service.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            ends.append(f"{service.name} {_status(service.proc.returncode)}")
        except subprocess.TimeoutExpired:
            ends.append(f"{service.name} SIGKILL after {grace_s:g} s")
        if not _group_gone(service.proc.pid, deadline):  # what it started, too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.proc.pid, signal.SIGKILL)
            service.proc.wait()
            if service.proc.returncode != -signal.SIGKILL:
                ends.append(f"{service.name}'s children SIGKILL after {grace_s:g} s")
    click.echo(f"stopped: {', '.join(ends)}", err=True)


def _group_gone(pgid: int, deadline: float) -> bool:
    """Wait until no process of the group is left (dagster dev's webserver and daemon may
    outlive it by a moment), at most until `deadline`."""
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _status(code: int) -> str:
    return f"by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def _spawn(name: str, args: list[str], env: dict[str, str], log: Path) -> _Service:
    command = [sys.executable, "-m", "polygon_pipeline", *args]
    return _Service(name, _spawn_command(command, env, log), log)


def _spawn_dagster(env: dict[str, str], port: int, log: Path) -> _Service:
    """`dagster dev`: the webserver on 127.0.0.1:`port` and the daemon (sensor, schedule)."""
    dagster = str(Path(sys.executable).parent / "dagster")
    command = [
        dagster,
        "dev",
        "-w",
        str(WORKSPACE),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    return _Service("Dagster (dagster dev)", _spawn_command(command, env, log), log)


def _spawn_command(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so stopping it stops everything it started; and it stops if
    # the demo dies without a chance to stop it.
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup,
        )


def _child_setup() -> None:
    """In each child before it runs: it stops if the demo dies; and Ctrl-C's SIGINT is
    handled again (a demo started in the background, `make demo &`, inherits SIGINT ignored,
    and `dagster dev` then ignores SIGTERM too: it maps SIGTERM to its SIGINT handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()
