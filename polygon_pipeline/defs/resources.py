"""The pipeline as a Dagster resource. Secrets come from the environment through `EnvVar`,
so the RPC URL and database password never appear in run config or the UI."""

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import SecretStr
from sqlalchemy import Engine

from polygon_pipeline.logging_setup import protect_secrets
from polygon_pipeline.settings import Settings, load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.sync.context import SyncContext


class PipelineResource(ConfigurableResource):
    """Everything a step needs to reconcile: settings, store, governed RPC client.

    Non-secret tuning (rates, ranges, batch sizes) is read from the same POLYGON_* variables
    as every other process, so Dagster runs, the watcher and the CLI share one budget."""

    rpc_url: str
    db_url: str | None = None

    def settings(self) -> Settings:
        changes = {"rpc_url": SecretStr(self.rpc_url)}
        if self.db_url:
            changes["db_url"] = SecretStr(self.db_url)
        settings = load_settings().model_copy(update=changes)
        protect_secrets(settings.secret_values())  # no key in the run's logs or storage
        return settings

    @contextmanager
    def store(self) -> Iterator[Engine]:
        """The store for the duration of a step (steps and checks run in their own process)."""
        engine = make_engine(self.settings().database_url)
        try:
            yield engine
        finally:
            engine.dispose()

    def sync_context(self, check_chain: bool = True) -> SyncContext:
        return SyncContext.from_settings(self.settings(), check_chain=check_chain)
