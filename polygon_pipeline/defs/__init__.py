"""Dagster definitions (loaded by workspace.yaml as the code location `polygon_pipeline`).

Where code goes, so that a newcomer knows where a new asset belongs:
- One folder per feature: `fills/` (leader_fills by block window: its asset, checks,
  partitions, window sensor, schedules and jobs), `history/` (leader_history), `live/` (the
  watcher's live_fills and its health), `api_mode/` (api_trades, source_comparison),
  `reports/` (what is derived from stored fills), `markets/` (Gamma lookups, readable
  trades, Parquet exports), `audit/` (closed windows against a second provider),
  `positions/` (leader positions and PnL). A new asset goes in its feature's folder,
  with its checks, jobs and automation beside it; a new feature gets a folder whose
  `__init__.py` holds its `Definitions`, merged below.
- Shared by every feature, and taken from nowhere else: `policies.py` (pools, run tags,
  retry policies, refresh conditions and `derived_asset`, which failures are not
  retried), `loaded_settings.py` (the settings, read once when the definitions load) and
  `resources.py` (the PipelineResource, built below from those settings: a step's,
  check's or sensor's settings, store and RPC client). A feature depends on another
  feature's asset by its key, never by importing it.
- Thin: defs/ imports sync/, the settings and Dagster. The work (reconciling, figures,
  queries, pandas) is in sync/; no table is queried here. polygon_pipeline_tests/fast/
  test_defs_layer.py enforces it.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from polygon_pipeline.defs import (
    api_mode,
    audit,
    fills,
    history,
    live,
    markets,
    positions,
    reports,
)
from polygon_pipeline.defs.loaded_settings import DEFINITION_SETTINGS
from polygon_pipeline.defs.resources import PipelineResource

defs = Definitions.merge(
    live.definitions,
    fills.definitions,
    history.definitions,
    reports.definitions,
    api_mode.definitions,
    markets.definitions,
    audit.definitions,
    positions.definitions,
    Definitions(
        # Steps wait on the provider, not the CPU: a process per step would only add
        # start-up time (UI backfills use this executor too).
        executor=in_process_executor,
        # Secrets as EnvVars: run storage and the UI show their variables' names only.
        resources={"pipeline": PipelineResource.from_settings(DEFINITION_SETTINGS)},
    ),
)
