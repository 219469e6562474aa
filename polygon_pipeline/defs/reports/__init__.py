"""Derived from the stored fills: the daily summaries, and the automation that refreshes
derived assets."""

from dagster import Definitions

from polygon_pipeline.defs.reports.daily_summaries import (
    derived_assets_automation,
    leader_daily_summaries,
)

definitions = Definitions(assets=[leader_daily_summaries], sensors=[derived_assets_automation])
