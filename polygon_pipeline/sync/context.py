"""Wiring for the use cases: settings -> store engine, shared limiter, governed RPC client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from polygon_pipeline.chain.block_times import PROCESS_BLOCK_TIMES, BlockTimestamps
from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.settings import ConfigError, Settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter


@dataclass
class SyncContext:
    settings: Settings
    engine: Engine
    rpc: GovernedRpc
    block_times: BlockTimestamps = field(default=PROCESS_BLOCK_TIMES)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, check_chain: bool = True, **client_options: Any
    ) -> SyncContext:
        """`client_options` go to the GovernedRpc (timeout, transient_attempts)."""
        url = settings.database_url
        engine = make_engine(url)
        limiter = SharedLimiter(
            make_engine(url, create_schema=False, serializable=True),
            rps=settings.rpc_max_rps,
            concurrency=settings.rpc_max_concurrency,
        )
        rpc = GovernedRpc(
            settings.require_rpc_url(), limiter, secrets=settings.secret_values(), **client_options
        )
        if check_chain:
            chain_id = rpc.chain_id()
            if chain_id != POLYGON_CHAIN_ID:
                raise ConfigError(
                    f"POLYGON_RPC_URL: serves chain id {chain_id}, expected {POLYGON_CHAIN_ID}"
                )
        return cls(settings, engine, rpc)

    def __enter__(self) -> SyncContext:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.rpc.close()
        self.rpc.limiter.engine.dispose()
        self.engine.dispose()
