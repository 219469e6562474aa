"""`polygon-pipeline devnet`: anvil + exchange code + trade generator + provider emulator,
served on one loopback port, with the URLs written to an env file the other commands source."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from polygon_pipeline.chain.exchanges import format_venue_blocks
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH, Anvil
from polygon_pipeline.devnet.clob_api import ClobStandIn
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
    providers: int = 1  # emulators in front of the one anvil, each on its own port


def _write_state(
    state_dir: Path, ports: list[int], anvil: Anvil, generator: TradeGenerator
) -> dict[str, str]:
    # A key in the path, as real providers do, so redaction is exercised on the devnet too.
    keys = [secrets.token_hex(12) for _ in ports]
    rpc = [f"http://127.0.0.1:{p}/v2/{k}" for p, k in zip(ports, keys, strict=True)]
    ws = [f"ws://127.0.0.1:{p}/v2/{k}" for p, k in zip(ports, keys, strict=True)]
    port = ports[0]
    several = (
        {
            "POLYGON_RPC_URLS": ",".join(rpc),
            "POLYGON_WS_URLS": ",".join(ws),
            # each emulator's own /_devnet/stats and /_devnet/config, in the same order
            "POLYGON_DEVNET_PROVIDER_URLS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
        }
        if len(ports) > 1
        else {}
    )
    values = {
        "POLYGON_RPC_URL": rpc[0],
        "POLYGON_WS_URL": ws[0],
        **several,
        "POLYGON_DEVNET_CONTROL_URL": f"http://127.0.0.1:{port}",
        "POLYGON_DATA_API_URL": f"http://127.0.0.1:{port}/data-api",
        "POLYGON_GAMMA_API_URL": f"http://127.0.0.1:{port}/gamma",
        "POLYGON_CLOB_API_URL": f"http://127.0.0.1:{port}/clob",
        "POLYGON_PIPELINE_DB_URL": f"sqlite:///{store_file(state_dir).resolve()}",
        "POLYGON_DEVNET_ANVIL_URL": anvil.http_url,
        # The devnet's own cutovers: the pipeline must query its venues at these blocks.
        "POLYGON_VENUE_BLOCKS": format_venue_blocks(generator.config.venues()),
        "POLYGON_RPC_ARRIVAL_ALLOWANCE_MS": str(LOOPBACK_ARRIVAL_ALLOWANCE_MS),
    }
    text = "# Written by `polygon-pipeline devnet`. Load it with: set -a; . .devnet/env; set +a\n"
    text += "".join(f"{k}={v}\n" for k, v in values.items())
    (state_dir / "leaders.txt").write_text("".join(f"{a}\n" for a in generator.leaders))
    pid_file(state_dir).write_text(str(os.getpid()))
    # Last, and whole at once: readers wait for this file to exist, then read it (one read
    # half-written, on a loaded machine, found no POLYGON_DEVNET_CONTROL_URL in it).
    partial = env_file(state_dir).with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, env_file(state_dir))
    return values


async def _serve_app(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


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
    runners: list[web.AppRunner] = []
    control: DevnetControl | None = None
    try:
        await generator.start()
        emulators = [
            ProviderEmulator(anvil.http_url, anvil.ws_url, copy.deepcopy(options.policy))
            for _ in range(options.providers)
        ]
        app = web.Application()
        control = DevnetControl(generator, emulators, {"anvil": anvil.http_url})
        control.add_routes(app)
        DataApiStandIn(generator).add_routes(app)
        GammaStandIn(generator).add_routes(app)
        ClobStandIn(generator).add_routes(app)
        emulators[0].add_routes(app)
        runners.append(await _serve_app(app, options.port))
        for n, emulator in enumerate(emulators[1:], start=1):
            own = web.Application()  # another provider: its own port, budget and faults
            emulator.add_routes(own)
            runners.append(await _serve_app(own, options.port + n if options.port else 0))
        ports = [r.addresses[0][1] for r in runners]
        values = _write_state(state_dir, ports, anvil, generator)
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
            f"{', '.join(f'127.0.0.1:{p}' for p in ports)}, "
            f"block time {options.block_time or 'manual'}s, "
            f"{len(generator.leaders)} leaders of {len(generator.wallets)} wallets, layouts "
            f"from blocks {_plan_text(options.generator.layout_blocks)}; "
            f"URLs in {env_file(state_dir)}; stop with Ctrl-C or `polygon-pipeline devnet stop`"
        )
        await stop.wait()
    finally:
        if control:
            await control.stop_clock()
        for runner in runners:
            await runner.cleanup()
        await generator.close()
        anvil.stop()
        for path in (pid_file(state_dir), env_file(state_dir)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
