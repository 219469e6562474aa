"""Wiring for the use cases: settings -> store engine, shared limiter, governed client.

Both contexts (the chain's and API mode's) are built by one helper and close themselves when
used as `with ...:`. The store is migrated before the limiter opens its own engine, so a
process starting on an empty database finds the limiter's tables there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from polygon_pipeline.chain.block_times import PROCESS_BLOCK_TIMES, BlockTimestamps
from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.data_api.client import DataApiClient
from polygon_pipeline.gamma.client import GammaClient
from polygon_pipeline.governed_http import GovernedHttp
from polygon_pipeline.redact import redact_db_url
from polygon_pipeline.settings import ConfigError, Settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline.sync.chain_identity import ensure_same_chain, provider_identity

RPC_BUDGET = "rpc"
API_BUDGET = "data_api"
API_CONCURRENCY = 2
GAMMA_BUDGET = "gamma"

Client = TypeVar("Client", bound=GovernedHttp)


def _store_and_limiter(
    settings: Settings, budget: str, rps: float, concurrency: int
) -> tuple[Engine, SharedLimiter]:
    """The migrated store engine, then the shared budget `budget` on an engine of its own
    (short serialized transactions that must not queue behind the store's)."""
    url = settings.database_url
    engine = make_engine(url)
    limiter_engine = make_engine(url, create_schema=False, serializable=True)
    limiter = SharedLimiter(
        limiter_engine,
        rps=rps,
        concurrency=concurrency,
        name=budget,
        arrival_allowance_s=settings.rpc_arrival_allowance_ms / 1000,
    )
    return engine, limiter


@contextmanager
def open_store(settings: Settings) -> Iterator[Engine]:
    """The migrated store alone, disposed of on exit: for what reads the store and calls no
    provider (checks, summaries, sensors that only look at the store)."""
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass
class _Governed(Generic[Client]):
    """A store engine and a governed client on a shared budget; `with` closes both."""

    settings: Settings
    engine: Engine
    client: Client

    def __enter__(self):
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        self.client.limiter.engine.dispose()
        self.engine.dispose()


@dataclass
class SyncContext(_Governed[GovernedRpc]):
    """What reconciliation and the watcher need: the store and the governed RPC client."""

    block_times: BlockTimestamps = field(default=PROCESS_BLOCK_TIMES)

    @property
    def rpc(self) -> GovernedRpc:
        return self.client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        check_chain: bool = True,
        guard_chain: bool = True,
        **client_options: Any,
    ) -> SyncContext:
        """`client_options` go to the GovernedRpc (timeout, transient_attempts).
        `check_chain`: refuse a chain id other than Polygon's; `guard_chain` (off only for
        `doctor`, which reports it as a check of its own): refuse a chain other than the
        store's (sync/chain_identity.py)."""
        rpc_url = settings.require_rpc_url()
        engine, limiter = _store_and_limiter(
            settings, RPC_BUDGET, settings.rpc_max_rps, settings.rpc_in_flight
        )
        rpc = GovernedRpc(rpc_url, limiter, secrets=settings.secret_values(), **client_options)
        ctx = cls(settings, engine, rpc)
        try:
            if guard_chain:
                ctx.guard_chain(check_chain_id=check_chain)
        except BaseException:
            ctx.close()
            raise
        return ctx

    def guard_chain(self, *, check_chain_id: bool = True) -> None:
        """Refuse a provider on another chain than Polygon's (`check_chain_id`) or than the
        one the store was filled from, before anything is written."""
        here = provider_identity(self.rpc)
        if check_chain_id and here.chain_id != POLYGON_CHAIN_ID:
            raise ConfigError(
                f"POLYGON_RPC_URL: serves chain id {here.chain_id}, expected {POLYGON_CHAIN_ID}"
            )
        ensure_same_chain(self.engine, self.rpc, here, redact_db_url(self.settings.database_url))


@dataclass
class ApiContext(_Governed[DataApiClient]):
    """What API mode needs: the store and the Data API client on its own shared budget."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiContext:
        engine, limiter = _store_and_limiter(
            settings, API_BUDGET, settings.data_api_max_rps, API_CONCURRENCY
        )
        api_url = settings.data_api_url.get_secret_value()
        client = DataApiClient(api_url, limiter, secrets=settings.secret_values())
        return cls(settings, engine, client)


@dataclass
class GammaContext(_Governed[GammaClient]):
    """What the markets need: the store and the Gamma client on its own shared budget."""

    @classmethod
    def from_settings(cls, settings: Settings) -> GammaContext:
        engine, limiter = _store_and_limiter(
            settings, GAMMA_BUDGET, settings.gamma_max_rps, API_CONCURRENCY
        )
        url = settings.gamma_api_url.get_secret_value()
        client = GammaClient(url, limiter, secrets=settings.secret_values())
        return cls(settings, engine, client)
