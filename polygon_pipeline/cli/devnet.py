"""`polygon-pipeline devnet [up|stop|truth]`: the local Polygon + paid-provider stand-in."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import click

from polygon_pipeline.devnet.anvil import FINALITY_DEPTH
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.state_files import DEFAULT_STATE_DIR, pid_file, read_env_file
from polygon_pipeline.devnet.venue_plan import parse_layout_blocks

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE_DIR,
    show_default=True,
    help="Where the env file, pid file, leaders.txt and anvil.log live.",
)


@click.group(invoke_without_command=True)
@click.pass_context
def devnet(ctx: click.Context) -> None:
    """A local Polygon (anvil, chain 137, real exchange addresses and event) behind an
    emulated paid RPC provider. Without a subcommand: `devnet up` with its defaults."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(up)


@devnet.command()
@click.option("--port", default=8545, show_default=True, help="Emulator port (0: any free port).")
@click.option(
    "--providers",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Provider emulators in front of the chain, each with its own budget and faults, on "
    "the ports after --port; .devnet/env lists them in POLYGON_RPC_URLS / POLYGON_WS_URLS.",
)
@click.option(
    "--block-time",
    default=2.0,
    show_default=True,
    help="Seconds between blocks; 0 mines only on request (POST /_devnet/mine).",
)
@click.option(
    "--finality-depth",
    default=FINALITY_DEPTH,
    show_default=True,
    help="Blocks between latest and the `finalized` tag (even number).",
)
@state_dir_option
@click.option("--wallets", default=40, show_default=True, help="Trading wallets.")
@click.option("--leaders", default=8, show_default=True, help="How many of them are leaders.")
@click.option("--fills-per-block", default=6, show_default=True)
@click.option(
    "--seed", default=7, show_default=True, help="Generator seed (same seed, same trades)."
)
@click.option(
    "--layout-blocks",
    default="",
    metavar="LAYOUT=BLOCK,...",
    help="First block each event layout trades from, e.g. v2=70 for the CLOB V2 cutover "
    "(default: the first layout from 0, each next one 100 blocks later: v2=100).",
)
@click.option("--max-rps", type=float, help="Provider request budget per second.")
@click.option("--cu-per-second", type=int, help="Provider compute-unit budget per second.")
@click.option(
    "--getlogs-max-range", type=int, help="Largest eth_getLogs block range (free tier: 10)."
)
@click.option("--getlogs-max-results", type=int, help="Most logs one eth_getLogs may return.")
@click.option(
    "--throttle-style",
    type=click.Choice(["http", "jsonrpc-429", "jsonrpc-32005"]),
    default="http",
    show_default=True,
    help="How a throttled call is answered.",
)
def up(
    port: int,
    providers: int,
    block_time: float,
    finality_depth: int,
    state_dir: Path,
    wallets: int,
    leaders: int,
    fills_per_block: int,
    seed: int,
    layout_blocks: str,
    max_rps: float | None,
    cu_per_second: int | None,
    getlogs_max_range: int | None,
    getlogs_max_results: int | None,
    throttle_style: str,
) -> None:
    """Start the devnet in the foreground; Ctrl-C (or `devnet stop`) stops everything."""
    import asyncio

    from polygon_pipeline.devnet.generator import GeneratorConfig
    from polygon_pipeline.devnet.runner import DevnetOptions, serve

    if leaders > wallets:
        raise click.BadParameter(f"--leaders {leaders} is more than --wallets {wallets}")
    try:
        plan = parse_layout_blocks(layout_blocks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--layout-blocks") from None
    options = DevnetOptions(
        port=port,
        providers=providers,
        block_time=block_time,
        finality_depth=finality_depth,
        state_dir=state_dir,
        generator=GeneratorConfig(
            wallets=wallets,
            leaders=leaders,
            fills_per_block=fills_per_block,
            seed=seed,
            layout_blocks=plan,
        ),
        policy=Policy(
            max_rps=max_rps,
            cu_per_second=cu_per_second,
            getlogs_max_range=getlogs_max_range,
            getlogs_max_results=getlogs_max_results,
            throttle_style=throttle_style,
        ),
    )
    asyncio.run(serve(options, announce=lambda line: click.echo(line, err=True)))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@devnet.command()
@state_dir_option
@click.option("--timeout", default=20.0, show_default=True, help="Seconds to wait for it to exit.")
def stop(state_dir: Path, timeout: float) -> None:
    """Stop the devnet started from this folder."""
    try:
        pid = int(pid_file(state_dir).read_text())
    except (FileNotFoundError, ValueError):
        raise click.ClickException(f"no devnet is running from {state_dir}") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file(state_dir).unlink(missing_ok=True)
        raise click.ClickException(f"devnet pid {pid} is gone (stale pid file removed)") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # The devnet removes its pid file once anvil is stopped and everything is cleaned up.
        if not pid_file(state_dir).exists() or not _running(pid):
            click.echo(f"devnet (pid {pid}) stopped")
            return
        time.sleep(0.1)
    raise click.ClickException(f"devnet pid {pid} did not exit within {timeout:.0f}s")


@devnet.command()
@state_dir_option
@click.option("--out", type=click.File("w"), default="-", help="Where to write (default stdout).")
def truth(state_dir: Path, out) -> None:
    """Export the ground truth: every fill the generator emitted on the canonical chain, as JSON
    lines (amounts as exact integers)."""
    import requests

    try:
        control = read_env_file(state_dir)["POLYGON_DEVNET_CONTROL_URL"]
    except (FileNotFoundError, KeyError):
        raise click.ClickException(f"no devnet is running from {state_dir}") from None
    rows = requests.get(f"{control}/_devnet/truth", timeout=60).json()
    for row in rows:
        out.write(json.dumps(row) + "\n")
    if out is not sys.stdout:
        click.echo(f"wrote {len(rows)} fills", err=True)
