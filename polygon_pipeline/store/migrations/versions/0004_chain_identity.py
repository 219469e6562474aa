"""The chain a store was filled from: its chain id and genesis block hash, recorded the first
time a provider is used with the store and checked by every later process, so a database
filled from one chain (the devnet says chain id 137, like Polygon) is never continued on
another.

Revision ID: 0004_chain_identity
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.types import UtcDateTime

revision = "0004_chain_identity"
down_revision = "0003_leader_history"


def upgrade() -> None:
    op.create_table(
        "chain_identity",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("genesis_hash", sa.String(66), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("chain_identity")
