"""Markets: what each outcome token is (Gamma), the token ids to try again, and the
leader_trades view (store/views.py).

Revision ID: 0006_markets
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.types import Uint256, UtcDateTime
from polygon_pipeline.store.views import DROP_LEADER_TRADES_SQL, LEADER_TRADES_SQL

revision = "0006_markets"
down_revision = "0005_coverage_venues"


def upgrade() -> None:
    op.create_table(
        "markets",
        sa.Column("token_id", Uint256, primary_key=True),
        sa.Column("condition_id", sa.String(66), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(200), nullable=False),
        sa.Column("outcome_index", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(300)),
        sa.Column("event_id", sa.String(40)),
        sa.Column("event_title", sa.Text()),
        sa.Column("neg_risk", sa.Boolean(), nullable=False),
        sa.Column("end_date", UtcDateTime()),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("looked_up_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_markets_state", "markets", ["state"])
    op.create_table(
        "market_misses",
        sa.Column("token_id", Uint256, primary_key=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(300)),
        sa.Column("next_try_at", UtcDateTime(), nullable=False),
    )
    op.execute(LEADER_TRADES_SQL)


def downgrade() -> None:
    op.execute(DROP_LEADER_TRADES_SQL)
    op.drop_table("market_misses")
    op.drop_index("ix_markets_state", "markets")
    op.drop_table("markets")
