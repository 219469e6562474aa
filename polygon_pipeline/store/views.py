"""Views over the tables (README, "The data"): created with the schema on a new database
(schema.metadata's after_create) and by migration 0006 on an existing one. A change to a
view ships as a new revision that replaces it."""

from __future__ import annotations

from sqlalchemy import DDL, Column, Integer, MetaData, String, Table, Text, event

from polygon_pipeline.store.schema import metadata
from polygon_pipeline.store.types import Uint256, UtcDateTime

# One row per leader order fill (the leader is the maker: chain/trades.py's counting rule),
# with its market when known (LEFT JOIN: a fill whose market is unknown still appears).
LEADER_TRADES_SQL = """
CREATE VIEW leader_trades AS
SELECT f.block_timestamp AS time, f.maker AS leader, l.label AS label,
       m.question AS question, m.outcome AS outcome, m.outcome_index AS outcome_index,
       m.condition_id AS condition_id, m.slug AS slug, m.event_title AS event_title,
       f.side AS side, f.token_id AS token_id, f.collateral_amount AS collateral_amount,
       f.token_amount AS token_amount, f.fee AS fee, f.fee_asset AS fee_asset,
       f.venue AS venue, f.exchange AS exchange, f.block_number AS block_number,
       f.tx_hash AS tx_hash, f.log_index AS log_index, f.chain_id AS chain_id
FROM fills f
JOIN leaders l ON l.address = f.maker
LEFT JOIN markets m ON m.token_id = f.token_id
WHERE f.side IS NOT NULL
"""
DROP_LEADER_TRADES_SQL = "DROP VIEW IF EXISTS leader_trades"

event.listen(metadata, "after_create", DDL(LEADER_TRADES_SQL))

# The view as SQLAlchemy reads it (its own MetaData: create_all must not make it a table).
leader_trades = Table(
    "leader_trades",
    MetaData(),
    Column("time", UtcDateTime()),
    Column("leader", String(42)),
    Column("label", String(200)),
    Column("question", Text),
    Column("outcome", String(200)),
    Column("outcome_index", Integer),
    Column("condition_id", String(66)),
    Column("slug", String(300)),
    Column("event_title", Text),
    Column("side", String(4)),
    Column("token_id", Uint256),
    Column("collateral_amount", Uint256),
    Column("token_amount", Uint256),
    Column("fee", Uint256),
    Column("fee_asset", String(10)),
    Column("venue", String(16)),
    Column("exchange", String(16)),
    Column("block_number", Integer),
    Column("tx_hash", String(66)),
    Column("log_index", Integer),
    Column("chain_id", Integer),
)
