"""`polygon-pipeline devnet`: anvil + exchange code + trade generator + provider emulator,
served on one loopback port, with the URLs written to an env file the other commands source."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from polygon_pipeline.chain.exchanges import format_venue_blocks
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH, Anvil
from polygon_pipeline.devnet.control import DevnetControl
from polygon_pipeline.devnet.data_api import DataApiStandIn
from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.emulator.server import ProviderEmulator
from polygon_pipeline.devnet.gamma_api import GammaStandIn
from polygon_pipeline.devnet.generator import GeneratorConfig, TradeGenerator
from polygon_pipeline.devnet.state_files import DEFAULT_STATE_DIR, env_file, pid_file, store_file
from polygon_pipeline.store.engine import remove_sqlite_store

# The provider emulator is on loopback: a request reaches it as soon as its event loop reads
# it, so the arrival allowance (the default is for a provider across the internet) covers
# that loop's lag, not a network.
LOOPBACK_ARRIVAL_ALLOWANCE_MS = 25


@dataclass
class DevnetOptions:
    port: int = 8545  # 0 picks a free port
    block_time: float = 2.0  # 0 mines only on request (POST /_devnet/mine)
    finality_depth: int = FINALITY_DEPTH  # blocks between latest and the `finalized` tag
    state_dir: Path = DEFAULT_STATE_DIR
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    policy: Policy = field(default_factory=Policy)


def _write_state(
    state_dir: Path, port: int, anvil: Anvil, generator: TradeGenerator
) -> dict[str, str]:
    # A key in the path, as real providers do, so redaction is exercised on the devnet too.
    key = secrets.token_hex(12)
    values = {
        "POLYGON_RPC_URL": f"http://127.0.0.1:{port}/v2/{key}",
        "POLYGON_WS_URL": f"ws://127.0.0.1:{port}/v2/{key}",
        "POLYGON_DEVNET_CONTROL_URL": f"http://127.0.0.1:{port}",
        "POLYGON_DATA_API_URL": f"http://127.0.0.1:{port}/data-api",
        "POLYGON_GAMMA_API_URL": f"http://127.0.0.1:{port}/gamma",
        "POLYGON_PIPELINE_DB_URL": f"sqlite:///{store_file(state_dir).resolve()}",
        "POLYGON_DEVNET_ANVIL_URL": anvil.http_url,
        # The devnet's own cutovers: the pipeline must query its venues at these blocks.
        "POLYGON_VENUE_BLOCKS": format_venue_blocks(generator.config.venues()),
        "POLYGON_RPC_ARRIVAL_ALLOWANCE_MS": str(LOOPBACK_ARRIVAL_ALLOWANCE_MS),
    }
    text = "# Written by `polygon-pipeline devnet`. Load it with: set -a; . .devnet/env; set +a\n"
    text += "".join(f"{k}={v}\n" for k, v in values.items())
    env_file(state_dir).write_text(text)
    (state_dir / "leaders.txt").write_text("".join(f"{a}\n" for a in generator.leaders))
    pid_file(state_dir).write_text(str(os.getpid()))
    return values


def _plan_text(layout_blocks: dict[str, int]) -> str:
    return ", ".join(f"{layout}={block}" for layout, block in layout_blocks.items())


async def serve(options: DevnetOptions, announce=print) -> None:
    """Run the devnet until SIGINT/SIGTERM; leave no process or state file behind."""
    state_dir = options.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    remove_sqlite_store(store_file(state_dir))  # a new devnet is a new chain
    anvil = Anvil(log_path=state_dir / "anvil.log", finality_depth=options.finality_depth)
    anvil.start()
    generator = TradeGenerator(anvil.http_url, options.generator)
    runner: web.AppRunner | None = None
    control: DevnetControl | None = None
    try:
        await generator.start()
        emulator = ProviderEmulator(anvil.http_url, anvil.ws_url, options.policy)
        app = web.Application()
        control = DevnetControl(generator, emulator, {"anvil": anvil.http_url})
        control.add_routes(app)
        DataApiStandIn(generator).add_routes(app)
        GammaStandIn(generator).add_routes(app)
        emulator.add_routes(app)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", options.port)
        await site.start()
        port = runner.addresses[0][1]
        values = _write_state(state_dir, port, anvil, generator)
        control.info.update(
            control_url=values["POLYGON_DEVNET_CONTROL_URL"],
            layout_blocks=options.generator.layout_blocks,
        )
        await control.start_clock(options.block_time)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        announce(
            f"devnet up: chain 137 (anvil {anvil.http_url}), provider emulator on "
            f"127.0.0.1:{port}, block time {options.block_time or 'manual'}s, "
            f"{len(generator.leaders)} leaders of {len(generator.wallets)} wallets, layouts "
            f"from blocks {_plan_text(options.generator.layout_blocks)}; "
            f"URLs in {env_file(state_dir)}; stop with Ctrl-C or `polygon-pipeline devnet stop`"
        )
        await stop.wait()
    finally:
        if control:
            await control.stop_clock()
        if runner:
            await runner.cleanup()
        await generator.close()
        anvil.stop()
        for path in (pid_file(state_dir), env_file(state_dir)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
