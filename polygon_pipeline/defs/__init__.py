"""Dagster definitions (loaded by workspace.yaml): thin wrappers over sync/."""

from __future__ import annotations

from dagster import Definitions

from polygon_pipeline.defs.live_feed import live_fills

defs = Definitions(assets=[live_fills])
