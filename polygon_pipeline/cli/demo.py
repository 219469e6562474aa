"""`polygon-pipeline demo`: bring the whole project up on the devnet and say where to look."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from polygon_pipeline.cli.common import fail
from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline.devnet.runner import DEFAULT_STATE_DIR, env_file
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders, read_leader_file


@click.command()
@click.option("--block-time", default=2.0, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
)
def demo(block_time: float, state_dir: Path) -> None:
    """Start the devnet, load its sample leaders, run the live watcher, Dagster and the Data
    API poller (against the devnet's stand-in); until Ctrl-C."""
    try:
        devnet = start_devnet(state_dir, block_time=block_time, port=8545, log_to_file=False)
    except RuntimeError as exc:
        raise fail(exc) from None
    os.environ.update(devnet.env)
    settings = load_settings()
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
    }
    children = [
        _spawn(
            ["watch"],
            {**demo_env, "POLYGON_BACKFILL_ON_STARTUP": "true"},
            state_dir / "watcher.log",
        ),
        _spawn_dagster(demo_env, state_dir / "dagster.log"),
        _spawn(["api-poll"], demo_env, state_dir / "api-poll.log"),
    ]
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
        f"  Dagster UI:                     http://127.0.0.1:{DAGSTER_PORT}  "
        f"(log: {state_dir / 'dagster.log'})\n"
        "  check everything:               set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline doctor\n"
        "Press Ctrl-C to stop.\n"
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        devnet.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        devnet.stop()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


DAGSTER_PORT = 3000
WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return _spawn_command([sys.executable, "-m", "polygon_pipeline", *args], env, log)


def _spawn_dagster(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`dagster dev`: the webserver on 127.0.0.1:3000 and the daemon (sensor, schedule)."""
    dagster = str(Path(sys.executable).parent / "dagster")
    command = [
        dagster,
        "dev",
        "-w",
        str(WORKSPACE),
        "-h",
        "127.0.0.1",
        "-p",
        str(DAGSTER_PORT),
    ]
    return _spawn_command(command, env, log)


def _spawn_command(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so stopping it stops everything it started.
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
