"""Positions: the leaders' ERC-1155 transfers on the two ledgers (position_transfers) and
the resolutions of their conditions (condition_resolutions).

Revision ID: 0009_positions
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.types import Uint256, UtcDateTime

revision = "0009_positions"
down_revision = "0008_fills_without_taker_index"


def upgrade() -> None:
    op.create_table(
        "position_transfers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("ledger", sa.String(16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("block_timestamp", UtcDateTime()),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("batch_index", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(42), nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("receiver", sa.String(42), nullable=False),
        sa.Column("token_id", Uint256, nullable=False),
        sa.Column("amount", Uint256, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint(
            "chain_id", "tx_hash", "log_index", "batch_index", name="uq_position_transfer"
        ),
    )
    for name, column in (
        ("ix_position_transfers_sender", "sender"),
        ("ix_position_transfers_receiver", "receiver"),
        ("ix_position_transfers_block", "block_number"),
    ):
        op.create_index(name, "position_transfers", [column])
    op.create_table(
        "condition_resolutions",
        sa.Column("condition_id", sa.String(66), primary_key=True),
        sa.Column("searched_to", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger()),
        sa.Column("tx_hash", sa.String(66)),
        sa.Column("payouts", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("condition_resolutions")
    op.drop_table("position_transfers")
