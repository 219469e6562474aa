"""The fills' (taker, block_number) index dropped: no query of the pipeline or of the
documented bot reads filters fills by taker (a leader's fills are read by maker, chunks by
exchange and block), and every new fill paid for it: without it SQLite writes new rows
faster (BENCHMARKS 4c).

Revision ID: 0008_fills_without_taker_index
"""

from alembic import op

revision = "0008_fills_without_taker_index"
down_revision = "0007_provider_audit"


def upgrade() -> None:
    op.drop_index("ix_fills_taker_block", table_name="fills")


def downgrade() -> None:
    op.create_index("ix_fills_taker_block", "fills", ["taker", "block_number"])
