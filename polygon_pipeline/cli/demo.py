"""`polygon-pipeline demo`: bring the whole project up on the devnet and say where to look."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from polygon_pipeline.devnet.runner import DEFAULT_STATE_DIR, env_file, read_env_file
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders, read_leader_file

START_TIMEOUT_S = 60


def _start_devnet(state_dir: Path, block_time: float) -> subprocess.Popen:
    env_file(state_dir).unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polygon_pipeline",
            "devnet",
            "up",
            "--state-dir",
            str(state_dir),
            "--block-time",
            str(block_time),
        ]
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while not env_file(state_dir).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise click.ClickException("the devnet did not start (see its output above)")
        time.sleep(0.2)
    return proc


@click.command()
@click.option("--block-time", default=2.0, show_default=True)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
)
def demo(block_time: float, state_dir: Path) -> None:
    """Start the devnet, load its sample leaders, and run until Ctrl-C."""
    devnet_proc = _start_devnet(state_dir, block_time)
    os.environ.update(read_env_file(state_dir))
    settings = load_settings()
    with make_engine(settings.database_url).begin() as conn:
        added = add_leaders(
            conn, read_leader_file((state_dir / "leaders.txt").read_text()), label="devnet sample"
        )
    described = settings.describe()
    control = os.environ["POLYGON_DEVNET_CONTROL_URL"]
    click.echo(
        "\npolygon_pipeline demo is running:\n"
        f"  devnet RPC (emulated provider): {described['rpc_url']}"
        f"  (full URLs in {env_file(state_dir)})\n"
        f"  devnet control API:             {control}/_devnet/info\n"
        f"  provider counters:              {control}/_devnet/stats\n"
        f"  database:                       {described['db_url']} ({added} sample leaders added)\n"
        "  check everything:               set -a; . .devnet/env; set +a; "
        ".venv/bin/polygon-pipeline doctor\n"
        "Press Ctrl-C to stop.\n"
    )
    try:
        devnet_proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if devnet_proc.poll() is None:
            devnet_proc.send_signal(signal.SIGTERM)
            devnet_proc.wait(timeout=30)
