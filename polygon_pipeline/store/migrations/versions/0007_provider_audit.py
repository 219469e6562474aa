"""Which provider filled each reconciled range and which audited it: `range_providers`.

Ranges stored before this revision have no row: they count as filled by an unknown provider,
so an audit reads them from any provider (sync/audit.py).

Revision ID: 0007_provider_audit
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.types import UtcDateTime

revision = "0007_provider_audit"
down_revision = "0006_markets"


def upgrade() -> None:
    op.create_table(
        "range_providers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("exchange", sa.String(16), nullable=False),
        sa.Column("from_block", sa.BigInteger(), nullable=False),
        sa.Column("to_block", sa.BigInteger(), nullable=False),
        sa.Column("filled_by", sa.Text(), nullable=False),
        sa.Column("filled_at", UtcDateTime(), nullable=False),
        sa.Column("audited_by", sa.Text()),
        sa.Column("audit_result", sa.Text()),
        sa.Column("audited_at", UtcDateTime()),
    )
    op.create_index("ix_range_providers_exchange", "range_providers", ["exchange", "from_block"])


def downgrade() -> None:
    op.drop_index("ix_range_providers_exchange", "range_providers")
    op.drop_table("range_providers")
