"""Wiring for the use cases: settings -> store engine, shared limiter, governed client.

Both contexts (the chain's and API mode's) are built by one helper and close themselves when
used as `with ...:`. The store is migrated before the limiter opens its own engine, so a
process starting on an empty database finds the limiter's tables there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from polygon_pipeline.chain.block_times import PROCESS_BLOCK_TIMES, BlockTimestamps
from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.chain.rpc_pool import Provider, RpcPool
from polygon_pipeline.clob.client import ClobClient
from polygon_pipeline.data_api.client import DataApiClient
from polygon_pipeline.gamma.client import GammaClient
from polygon_pipeline.governed_http import TRANSIENT_ATTEMPTS, GovernedHttp
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.redact import provider_labels, redact_db_url
from polygon_pipeline.settings import ConfigError, Settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline.sync.chain_identity import ensure_same_chain, provider_identity

RPC_BUDGET = "rpc"
API_BUDGET = "data_api"
API_CONCURRENCY = 2
GAMMA_BUDGET = "gamma"
CLOB_BUDGET = "clob"
# With several providers, the failures of one call one provider is given before the pool
# turns to another (the pool's own budget is the usual TRANSIENT_ATTEMPTS).
PER_PROVIDER_ATTEMPTS = 2

Client = TypeVar("Client", bound=GovernedHttp)


def _store_and_limiter(
    settings: Settings, budget: str, rps: float, concurrency: int
) -> tuple[Engine, SharedLimiter]:
    """The migrated store engine, then the shared budget `budget` on an engine of its own
    (short serialized transactions that must not queue behind the store's)."""
    engine = make_engine(settings.database_url)
    return engine, _limiter(settings, budget, rps, concurrency)


def _limiter(settings: Settings, budget: str, rps: float, concurrency: int) -> SharedLimiter:
    limiter_engine = make_engine(settings.database_url, create_schema=False, serializable=True)
    return SharedLimiter(
        limiter_engine,
        rps=rps,
        concurrency=concurrency,
        name=budget,
        arrival_allowance_s=settings.rpc_arrival_allowance_ms / 1000,
    )


def rpc_budget_name(label: str, providers: int) -> str:
    """The shared budget of a provider: `rpc` when it is the only one (as before several
    providers existed), `rpc:LABEL` for each of several."""
    return RPC_BUDGET if providers == 1 else f"{RPC_BUDGET}:{label}"


def rpc_pool(settings: Settings, **client_options: Any) -> RpcPool:
    """Every configured RPC provider, each on its own shared budget (same rate and
    concurrency settings). With several, each provider's client gives up quickly (a second
    failure, the first throttle) so the pool turns to another provider instead of waiting."""
    urls = settings.require_rpc_urls()
    labels = provider_labels(urls)
    attempts = client_options.pop("transient_attempts", TRANSIENT_ATTEMPTS)
    if len(urls) > 1:
        client_options.update(transient_attempts=PER_PROVIDER_ATTEMPTS, throttle_give_up_s=0)
    else:
        client_options["transient_attempts"] = attempts
    providers = []
    for url, label in zip(urls, labels, strict=True):
        limiter = _limiter(
            settings,
            rpc_budget_name(label, len(urls)),
            settings.rpc_max_rps,
            settings.rpc_in_flight,
        )
        rpc = GovernedRpc(url, limiter, secrets=settings.secret_values(), **client_options)
        providers.append(Provider(label, rpc))
    return RpcPool(
        providers,
        set_aside_s=settings.provider_set_aside_s,
        max_lag_blocks=settings.provider_max_lag_blocks,
        transient_attempts=attempts,
    )


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
class SyncContext(_Governed[RpcPool]):
    """What reconciliation and the watcher need: the store and the governed RPC client (a
    pool of one provider or several)."""

    block_times: BlockTimestamps = field(default=PROCESS_BLOCK_TIMES)

    @property
    def rpc(self) -> RpcPool:
        return self.client

    def close(self) -> None:
        self.client.close()  # every provider's client and budget engine
        self.engine.dispose()

    def pinned(self, label: str) -> SyncContext:
        """This context reading from one provider only (the audit's second reader); close
        the original, not this view."""
        return replace(self, client=self.client.pinned(label))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        check_chain: bool = True,
        guard_chain: bool = True,
        **client_options: Any,
    ) -> SyncContext:
        """`client_options` go to each provider's GovernedRpc (timeout, transient_attempts).
        `check_chain`: refuse a chain id other than Polygon's; `guard_chain` (off only for
        `doctor`, which reports it as a check of its own): refuse a chain other than the
        store's (sync/chain_identity.py)."""
        settings.require_rpc_urls()
        engine = make_engine(settings.database_url)  # migrated before the budgets open
        ctx = cls(settings, engine, rpc_pool(settings, **client_options))
        try:
            if guard_chain:
                ctx.guard_chain(check_chain_id=check_chain)
        except BaseException:
            ctx.close()
            raise
        return ctx

    def guard_chain(self, *, check_chain_id: bool = True) -> None:
        """Refuse a provider on another chain than Polygon's (`check_chain_id`) or than the
        one the store was filled from, before anything is written. With several providers
        each one that answers is checked (one that is down now is set aside by the pool, and
        checked by the next process that starts while it is up)."""
        providers = self.rpc.labels()
        unreachable: ProviderError | None = None
        checked = 0
        for label in providers:
            # one failure or throttle is enough to pass on: a provider down or pacing us at
            # start is set aside (or paused) and checked by a later process
            rpc = (
                self.rpc.pinned(label, transient_attempts=1, throttle_give_up_s=0)
                if len(providers) > 1
                else self.rpc
            )
            try:
                here = provider_identity(rpc)
            except ProviderError as exc:
                if len(providers) == 1:
                    raise
                unreachable = exc
                continue
            if check_chain_id and here.chain_id != POLYGON_CHAIN_ID:
                raise ConfigError(
                    f"POLYGON_RPC_URL{f'S: {label}' if len(providers) > 1 else ':'} serves chain "
                    f"id {here.chain_id}, expected {POLYGON_CHAIN_ID}"
                )
            ensure_same_chain(self.engine, rpc, here, redact_db_url(self.settings.database_url))
            checked += 1
        if unreachable is not None and not checked:
            raise unreachable


# Each HTTP API's URL and budget settings, by budget name
_API_SETTINGS = {
    API_BUDGET: ("data_api_url", "data_api_max_rps"),
    GAMMA_BUDGET: ("gamma_api_url", "gamma_max_rps"),
    CLOB_BUDGET: ("clob_api_url", "clob_max_rps"),
}


def _api_client(settings: Settings, budget: str, kind: type[Client]) -> tuple[Engine, Client]:
    """The store and an HTTP API's governed client on the API's own shared budget."""
    url_field, rps_field = _API_SETTINGS[budget]
    engine, limiter = _store_and_limiter(
        settings, budget, getattr(settings, rps_field), API_CONCURRENCY
    )
    url = getattr(settings, url_field).get_secret_value()
    return engine, kind(url, limiter, secrets=settings.secret_values())


@dataclass
class ApiContext(_Governed[DataApiClient]):
    """What API mode needs: the store and the Data API client on its own shared budget."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiContext:
        return cls(settings, *_api_client(settings, API_BUDGET, DataApiClient))


@dataclass
class GammaContext(_Governed[GammaClient]):
    """What the markets need: the store and the Gamma client on its own shared budget."""

    @classmethod
    def from_settings(cls, settings: Settings) -> GammaContext:
        return cls(settings, *_api_client(settings, GAMMA_BUDGET, GammaClient))


@dataclass
class ClobContext(_Governed[ClobClient]):
    """What current prices need: the store and the CLOB client on its own shared budget."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ClobContext:
        return cls(settings, *_api_client(settings, CLOB_BUDGET, ClobClient))
