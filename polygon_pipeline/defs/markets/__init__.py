"""Markets: what each traded token is (Gamma), the readable leader trades, and the Parquet
exports of each block window."""

from dagster import Definitions

from polygon_pipeline.defs.markets.assets import leader_trades, markets
from polygon_pipeline.defs.markets.exports import window_exports

definitions = Definitions(assets=[markets, leader_trades, window_exports])
