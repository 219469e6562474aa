"""The pipeline as a Dagster resource: the one place a step, a check or a sensor gets its
settings, its store and its governed RPC client.

A ConfigurableResource built from the settings read once when the definitions load
(defs/__init__.py; every process that loads them, a run's included, reads its own
environment). Its secret-bearing settings (provider URLs, the database URL) are `EnvVar`s:
Dagster shows and stores them by the variable's name and reads the value in the process
that runs the step, so no key or password reaches run storage or the UI (Dagster's docs,
"Using environment variables and secrets in Dagster code"). The other settings are handed
down as values, those that differ from their defaults only. Tests build it the same way
from their own environment."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, EnvVar

from polygon_pipeline.logging_setup import protect_secrets
from polygon_pipeline.settings import SECRET_FIELDS, Settings, settings_of, variable_of
from polygon_pipeline.sync.context import SyncContext, open_store

if TYPE_CHECKING:
    from sqlalchemy import Engine


class PipelineResource(ConfigurableResource):
    """Everything a step needs to reconcile: settings, store, governed RPC client. Its
    tuning (rates, ranges, batch sizes) comes from the same POLYGON_* variables as every
    other process, so Dagster runs, the watcher and the CLI share one budget."""

    # The secret-bearing settings, each the EnvVar of its variable (None where it is unset).
    rpc_url: str | None = None
    ws_url: str | None = None
    rpc_urls: str | None = None
    ws_urls: str | None = None
    db_url: str | None = None
    data_api_url: str | None = None
    gamma_api_url: str | None = None
    clob_api_url: str | None = None
    # Every other setting that differs from its default, by field name.
    tuning: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineResource:
        """The resource for settings read from this process's environment (load_settings):
        a secret is named by its variable, never copied."""
        protect_secrets(settings.secret_values())  # no key in the process's logs or storage
        return cls(
            **{n: EnvVar(variable_of(n)) for n in SECRET_FIELDS if n in settings.model_fields_set},
            tuning=settings.model_dump(
                mode="json", exclude=set(SECRET_FIELDS), exclude_defaults=True
            ),
        )

    def settings(self) -> Settings:
        """The settings handed down, secrets as Dagster resolved them for this step."""
        secrets = {n: getattr(self, n) for n in SECRET_FIELDS if getattr(self, n) is not None}
        return settings_of({**self.tuning, **secrets})

    def store(self) -> AbstractContextManager[Engine]:
        """The store for the duration of a step (steps and checks run in their own process)."""
        return open_store(self.settings())

    def sync_context(self, check_chain: bool = True) -> SyncContext:
        return SyncContext.from_settings(self.settings(), check_chain=check_chain)


# The short name steps, checks and sensors ask for it by: `pipeline: Pipeline`.
Pipeline = PipelineResource
