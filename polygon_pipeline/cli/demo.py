"""`polygon-pipeline demo`: bring the whole project up on the devnet and say where to look."""

from __future__ import annotations

import os
from pathlib import Path

import click

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
    """Start the devnet, load its sample leaders, and run until Ctrl-C."""
    try:
        devnet = start_devnet(state_dir, block_time=block_time, port=8545, log_to_file=False)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    os.environ.update(devnet.env)
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
        devnet.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        devnet.stop()
