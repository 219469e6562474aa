"""The tables other tools rely on (README, "The data"). Changes to them ship as Alembic
revisions in store/migrations/ (store/migrate.py applies them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from polygon_pipeline.store.types import Uint256, UtcDateTime

metadata = MetaData()


def _id() -> Column:
    """A surrogate key that autoincrements on both backends (INTEGER PRIMARY KEY on SQLite)."""
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


fills = Table(
    "fills",
    metadata,
    _id(),
    Column("chain_id", Integer, nullable=False),
    Column("exchange", String(16), nullable=False),  # the family: ctf, negrisk
    Column("venue", String(16), nullable=False),  # the contract: ctf_v1, ctf_v2, ...
    Column("layout", String(4), nullable=False),  # the OrderFilled layout: v1, v2
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("block_timestamp", UtcDateTime()),
    Column("tx_hash", String(66), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("order_hash", String(66), nullable=False),
    Column("maker", String(42), nullable=False),
    Column("taker", String(42), nullable=False),
    Column("maker_asset_id", Uint256, nullable=False),
    Column("taker_asset_id", Uint256, nullable=False),
    Column("maker_amount", Uint256, nullable=False),
    Column("taker_amount", Uint256, nullable=False),
    Column("fee", Uint256, nullable=False),
    # Normalized across layouts (chain/fills.py): the order's side and token, what it paid
    # or got in collateral and tokens, and which asset the fee is in.
    Column("side", String(4)),  # BUY | SELL; NULL: not a collateral trade
    Column("token_id", Uint256, nullable=False),
    Column("collateral_amount", Uint256, nullable=False),
    Column("token_amount", Uint256, nullable=False),
    Column("fee_asset", String(10), nullable=False),  # collateral | token
    Column("builder", String(66)),  # V2 only
    Column("metadata", String(66)),  # V2 only
    Column("source", String(8), nullable=False),  # "ws" | "backfill"
    Column("first_seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_fills_identity"),
    Index("ix_fills_maker_block", "maker", "block_number"),
    Index("ix_fills_exchange_block", "exchange", "block_number"),
)

exchange_cursors = Table(
    "exchange_cursors",
    metadata,
    Column("exchange", String(16), primary_key=True),
    Column("last_processed_block", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

leaders = Table(
    "leaders",
    metadata,
    Column("address", String(42), primary_key=True),
    Column("label", String(200)),
    Column("added_at", UtcDateTime(), nullable=False),
    # How far back this leader's fills are wanted (store/leader_coverage_repo.py keeps what is
    # complete); NULL: from when it was added.
    Column("history_from_block", BigInteger),
)

# Every distinct list of leaders a reconciliation queried, so a stored range says for which
# leaders it is complete: a leader added later is not covered by ranges reconciled before.
leader_sets = Table(
    "leader_sets",
    metadata,
    _id(),
    Column("digest", String(64), nullable=False, unique=True),  # sha256 of `leaders`
    Column("leaders", Text, nullable=False),  # sorted lowercase addresses, comma-separated
)

# Block ranges a leader history backfill stored, for the leaders of one set only (they do
# not count as the exchange's coverage: the other leaders were not queried).
leader_ranges = Table(
    "leader_ranges",
    metadata,
    _id(),
    Column("exchange", String(16), nullable=False),
    Column("from_block", BigInteger, nullable=False),
    Column("to_block", BigInteger, nullable=False),
    Column("leader_set_id", BigInteger, nullable=False),
    Column("reconciled_at", UtcDateTime(), nullable=False),
    Column("venues", Text, nullable=False),  # the venues queried over it (see below)
    Index("ix_leader_ranges_set", "leader_set_id", "exchange"),
)

# The shared RPC budget (see store/limiter.py): one row per provider budget, GCRA state.
rpc_limiter = Table(
    "rpc_limiter",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("tat", Float(precision=53), nullable=False),  # GCRA theoretical arrival time (epoch s)
    Column("cooldown_until", Float(precision=53), nullable=False),  # nobody sends before this
    Column("consecutive_throttles", Integer, nullable=False),
)

# Concurrency slots of the shared budget: a slot is held by one request in flight, with an
# expiry so that a process killed mid-request cannot keep it.
rpc_slots = Table(
    "rpc_slots",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("holder", String(64)),
    Column("expires_at", Float(precision=53), nullable=False),
)

# Single flight on SQLite: the watcher's lease row (PostgreSQL uses an advisory lock).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float(precision=53), nullable=False),
)

# The watcher's last words about its health, for Dagster checks and operators.
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("status", String(2000), nullable=False),  # JSON: what /healthz shows
)

# Block ranges that reconciliation has fully stored, per exchange: what the coverage check
# reads (the cursor says "up to here", this says exactly which ranges, windows included).
reconciled_ranges = Table(
    "reconciled_ranges",
    metadata,
    _id(),
    Column("exchange", String(16), nullable=False),
    Column("from_block", BigInteger, nullable=False),
    Column("to_block", BigInteger, nullable=False),
    Column("reconciled_at", UtcDateTime(), nullable=False),
    Column("leader_set_id", BigInteger),  # the leaders it is complete for (NULL: before 0003)
    # The venues queried over all of it, sorted and comma-separated (store/coverage_repo.py):
    # a block is complete only where every venue trading there was queried.
    Column("venues", Text, nullable=False),
    Index("ix_reconciled_ranges_exchange", "exchange", "from_block"),
)

# Every fill the live watcher saw (whether or not it wrote the row first), so reconciled
# windows can be compared with the live feed: misses and extras (see the Dagster check).
live_sightings = Table(
    "live_sightings",
    metadata,
    Column("chain_id", Integer, primary_key=True),
    Column("tx_hash", String(66), primary_key=True),
    Column("log_index", Integer, primary_key=True),
    Column("exchange", String(16), nullable=False),  # the family: ctf, negrisk
    Column("block_number", BigInteger, nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    Index("ix_live_sightings_block", "exchange", "block_number"),
)

# API mode: trades as the Polymarket Data API reports them, and when each was first seen.
api_trades = Table(
    "api_trades",
    metadata,
    _id(),
    Column("leader", String(42), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("token_id", Uint256, nullable=False),
    Column("side", String(4), nullable=False),
    Column("size", String(40), nullable=False),  # decimal text, as the API gave it
    Column("price", String(40), nullable=False),
    Column("trade_timestamp", UtcDateTime(), nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint(
        "leader", "tx_hash", "token_id", "side", "size", "price", name="uq_api_trades_identity"
    ),
    Index("ix_api_trades_seen", "first_seen_at"),
)

# Per leader: the newest trade time the poller has seen (it re-reads an overlap behind it).
api_cursors = Table(
    "api_cursors",
    metadata,
    Column("leader", String(42), primary_key=True),
    Column("newest_timestamp", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The chain the store was filled from (one row): checked before anything is written, so a
# store is never continued on another chain (sync/chain_identity.py).
chain_identity = Table(
    "chain_identity",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("chain_id", Integer, nullable=False),
    Column("genesis_hash", String(66), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# What each outcome token is (Gamma, gamma/markets.py): one row per token id looked up. A
# market is looked up once and refreshed only while open (sync/markets.py).
markets = Table(
    "markets",
    metadata,
    Column("token_id", Uint256, primary_key=True),
    Column("condition_id", String(66), nullable=False),
    Column("question", Text, nullable=False),
    Column("outcome", String(200), nullable=False),
    Column("outcome_index", Integer, nullable=False),
    Column("slug", String(300)),
    Column("event_id", String(40)),
    Column("event_title", Text),
    Column("neg_risk", Boolean, nullable=False),
    Column("end_date", UtcDateTime()),
    Column("state", String(8), nullable=False),  # open | closed | resolved
    Column("looked_up_at", UtcDateTime(), nullable=False),
    Index("ix_markets_state", "state"),
)

# Token ids Gamma did not know (or failed on): tried again from `next_try_at`, never holding
# up the fills (their trades show empty market fields meanwhile).
market_misses = Table(
    "market_misses",
    metadata,
    Column("token_id", Uint256, primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(300)),
    Column("next_try_at", UtcDateTime(), nullable=False),
)

# Which provider filled each reconciled range and which audited it (sync/audit.py): a range
# read from one provider is proven only once another one agrees.
range_providers = Table(
    "range_providers",
    metadata,
    _id(),
    Column("exchange", String(16), nullable=False),
    Column("from_block", BigInteger, nullable=False),
    Column("to_block", BigInteger, nullable=False),
    Column("filled_by", Text, nullable=False),  # provider labels, sorted, comma-separated
    Column("filled_at", UtcDateTime(), nullable=False),
    Column("audited_by", Text),  # NULL: not audited yet
    Column("audit_result", Text),  # "agreed", or what differed and was repaired
    Column("audited_at", UtcDateTime()),
    Index("ix_range_providers_exchange", "exchange", "from_block"),
)

# A leader's ERC-1155 position transfers on the two ledgers (chain/transfers.py): one row per
# id of a TransferSingle / TransferBatch log (batch_index: its place in the batch). Balances
# are sums of these; what each one was is read from its transaction (positions/).
position_transfers = Table(
    "position_transfers",
    metadata,
    _id(),
    Column("chain_id", Integer, nullable=False),
    Column("ledger", String(16), nullable=False),  # ctf_ledger | pm_ledger
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    Column("block_timestamp", UtcDateTime()),
    Column("tx_hash", String(66), nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("batch_index", Integer, nullable=False),
    Column("operator", String(42), nullable=False),
    Column("sender", String(42), nullable=False),  # 0x0: a mint
    Column("receiver", String(42), nullable=False),  # 0x0: a burn
    Column("token_id", Uint256, nullable=False),
    Column("amount", Uint256, nullable=False),
    Column("source", String(8), nullable=False),  # ws | backfill
    Column("first_seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint(
        "chain_id", "tx_hash", "log_index", "batch_index", name="uq_position_transfer"
    ),
    Index("ix_position_transfers_sender", "sender"),
    Index("ix_position_transfers_receiver", "receiver"),
    Index("ix_position_transfers_block", "block_number"),
)

# ConditionalTokens' ConditionResolution of the conditions the leaders' positions belong to
# (sync/resolutions.py): the payout a redemption realizes at. `searched_to`: the last block
# looked at; a condition not resolved by then has no block yet.
condition_resolutions = Table(
    "condition_resolutions",
    metadata,
    Column("condition_id", String(66), primary_key=True),
    Column("searched_to", BigInteger, nullable=False),
    Column("block_number", BigInteger),
    Column("tx_hash", String(66)),
    Column("payouts", Text),  # JSON list of the payout numerators, as decimal strings
)
