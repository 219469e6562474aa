"""Positions: every leader's positions and PnL from the ledgers' transfers
(docs/positions.md), and realized PnL per day."""

from dagster import Definitions

from polygon_pipeline.defs.positions.assets import (
    leader_pnl,
    leader_positions,
    no_negative_balances,
    position_comparison,
)

definitions = Definitions(
    assets=[leader_positions, leader_pnl, position_comparison],
    asset_checks=[no_negative_balances],
)
