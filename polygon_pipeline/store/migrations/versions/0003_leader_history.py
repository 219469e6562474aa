"""Per-leader coverage: which leaders each reconciled range is complete for, history ranges
of added leaders, and how far back each leader's history is wanted.

Ranges reconciled before this revision have no leader set: they count for the exchange (as
before) but for no leader's history, so a history backfill re-reads them once.

Revision ID: 0003_leader_history
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.types import UtcDateTime

revision = "0003_leader_history"
down_revision = "0002_venues"


def upgrade() -> None:
    op.add_column("leaders", sa.Column("history_from_block", sa.BigInteger()))
    op.add_column("reconciled_ranges", sa.Column("leader_set_id", sa.BigInteger()))
    op.create_table(
        "leader_sets",
        _id(),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("leaders", sa.Text(), nullable=False),
    )
    op.create_table(
        "leader_ranges",
        _id(),
        sa.Column("exchange", sa.String(16), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("to_block", sa.BigInteger(), nullable=False),
        sa.Column("leader_set_id", sa.BigInteger(), nullable=False),
        sa.Column("reconciled_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_leader_ranges_set", "leader_ranges", ["leader_set_id", "exchange"])


def _id() -> sa.Column:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("leader_ranges")
    op.drop_table("leader_sets")
    with op.batch_alter_table("reconciled_ranges") as batch:
        batch.drop_column("leader_set_id")
    with op.batch_alter_table("leaders") as batch:
        batch.drop_column("history_from_block")
