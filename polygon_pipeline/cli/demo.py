"""`polygon-pipeline demo`: bring the whole project up on the devnet and say where to look."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from polygon_pipeline.cli.common import fail
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
    "--port", default=8545, show_default=True, help="The devnet's port (0: any free one)."
)
@click.option("--dagster-port", default=3000, show_default=True, help="The Dagster UI's port.")
def demo(block_time: float, state_dir: Path, port: int, dagster_port: int) -> None:
    """Start the devnet, load its sample leaders, run the live watcher, Dagster and the Data
    API poller (against the devnet's stand-in); until Ctrl-C."""
    from polygon_pipeline.devnet.handle import start_devnet

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    die_with_parent()  # `kill` of `make demo` stops the demo too
    try:
        devnet = start_devnet(
            state_dir, block_time=block_time, port=port, log_to_file=False, own_group=True
        )
    except RuntimeError as exc:
        raise fail(exc) from None
    running: list[subprocess.Popen] = [devnet.proc]
    try:
        _run(devnet, state_dir, dagster_port, running)
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all(running)


def _run(
    devnet: DevnetHandle, state_dir: Path, dagster_port: int, running: list[subprocess.Popen]
) -> None:
    """Load the sample leaders, start the watcher, Dagster and the poller (each added to
    `running` as it starts), say where everything is, and wait for the devnet to end."""
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
        "DAGSTER_HOME": str(home),
    }
    running.append(
        _spawn(
            ["watch"],
            {**demo_env, "POLYGON_BACKFILL_ON_STARTUP": "true"},
            state_dir / "watcher.log",
        )
    )
    running.append(_spawn_dagster(demo_env, dagster_port, state_dir / "dagster.log"))
    running.append(_spawn(["api-poll"], demo_env, state_dir / "api-poll.log"))
    described = settings.describe()
    control = os.environ["POLYGON_DEVNET_CONTROL_URL"]
    click.echo(
        "\npolygon_pipeline demo is running:\n"
        f"  devnet RPC (emulated provider): {described['rpc_url']}"
        f"  (full URLs in {env_file(state_dir)})\n"
        f"  devnet control API:             {control}/_devnet/info\n"
        f"  provider counters:              {control}/_devnet/stats\n"
        f"  database:                       {described['db_url']} ({added} sample leaders added)\n"
        f"  live watcher:                   http://{settings.watch_health_host}:"
        f"{settings.watch_health_port}/healthz  (log: {state_dir / 'watcher.log'})\n"
        f"  Dagster UI:                     http://127.0.0.1:{dagster_port}  "
        f"(instance: {home}, log: {state_dir / 'dagster.log'})\n"
        "  check everything:               ( set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline doctor )\n"
        "  leader trades, with markets:    ( set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline markets sync && .venv/bin/polygon-pipeline trades )\n"
        "Press Ctrl-C to stop.\n"
    )
    devnet.proc.wait()


def _fresh_dagster_home(state_dir: Path) -> Path:
    """The demo's own Dagster instance, new with each devnet (its runs and windows describe
    that chain only, and a user's DAGSTER_HOME is never touched), from the project's
    dagster.yaml."""
    home = (state_dir / "dagster_home").resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(WORKSPACE.with_name("dagster.yaml"), home / "dagster.yaml")
    return home


STOP_GRACE_S = 15.0


def _stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to every process group at once, one shared grace period, then SIGKILL to
    whatever is left: stopping takes as long as the slowest, not the sum."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return _spawn_command([sys.executable, "-m", "polygon_pipeline", *args], env, log)


def _spawn_dagster(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
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
    return _spawn_command(command, env, log)


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
            preexec_fn=die_with_parent,
        )
