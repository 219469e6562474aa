"""The pipeline as a Dagster resource: the one place a step, a check or a sensor gets its
settings, its store and its governed RPC client.

It holds the settings it was handed (defs/__init__.py: those read once when the definitions
load, in every process that loads them, a run's included), secrets and all. It is a plain
object, not a configurable resource: nothing of it is run config, so no URL or password
reaches run storage or the UI. Tests hand it their own settings."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from dagster import ResourceParam

from polygon_pipeline.logging_setup import protect_secrets
from polygon_pipeline.settings import Settings
from polygon_pipeline.sync.context import SyncContext, open_store

if TYPE_CHECKING:
    from sqlalchemy import Engine


class PipelineResource:
    """Everything a step needs to reconcile: settings, store, governed RPC client. Its
    tuning (rates, ranges, batch sizes) comes from the same POLYGON_* variables as every
    other process, so Dagster runs, the watcher and the CLI share one budget."""

    def __init__(self, settings: Settings):
        self._settings = settings
        protect_secrets(settings.secret_values())  # no key in the process's logs or storage

    def settings(self) -> Settings:
        return self._settings

    def store(self) -> AbstractContextManager[Engine]:
        """The store for the duration of a step (steps and checks run in their own process)."""
        return open_store(self._settings)

    def sync_context(self, check_chain: bool = True) -> SyncContext:
        return SyncContext.from_settings(self._settings, check_chain=check_chain)


# How a step, a check or a sensor asks for it: `pipeline: Pipeline`.
Pipeline = ResourceParam[PipelineResource]
