"""API mode: the Data API trades as an asset, and the comparison of both sources."""

from dagster import Definitions

from polygon_pipeline.defs.api_mode.assets import api_trades, source_comparison

definitions = Definitions(assets=[api_trades, source_comparison])
