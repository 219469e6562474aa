"""Fills of every venue and layout: venue, layout and the normalized trade columns.

Rows stored before this revision are all V1 (the only layout known then); their normalized
columns are derived from the asset ids in SQL, on both backends.

Revision ID: 0002_venues
"""

import sqlalchemy as sa
from alembic import op

from polygon_pipeline.store.schema import fills
from polygon_pipeline.store.types import Uint256

revision = "0002_venues"
down_revision = "0001_baseline"

_NOT_NULL = {
    "venue": sa.String(16),
    "layout": sa.String(4),
    "token_id": Uint256(),
    "collateral_amount": Uint256(),
    "token_amount": Uint256(),
    "fee_asset": sa.String(10),
}
_NULLABLE = {"side": sa.String(4), "builder": sa.String(66), "metadata": sa.String(66)}


def upgrade() -> None:
    for name, type_ in {**_NOT_NULL, **_NULLABLE}.items():
        op.add_column("fills", sa.Column(name, type_, nullable=True))
    c = fills.c
    zero = sa.literal(0, Uint256())
    buy = sa.and_(c.maker_asset_id == zero, c.taker_asset_id != zero)
    sell = sa.and_(c.taker_asset_id == zero, c.maker_asset_id != zero)
    op.get_bind().execute(
        sa.update(fills).values(
            venue=c.exchange + "_v1",
            layout="v1",
            side=sa.case((buy, "BUY"), (sell, "SELL"), else_=sa.null()),
            token_id=sa.case((buy, c.taker_asset_id), (sell, c.maker_asset_id), else_=zero),
            collateral_amount=sa.case((buy, c.maker_amount), else_=c.taker_amount),
            token_amount=sa.case((buy, c.taker_amount), else_=c.maker_amount),
            fee_asset=sa.case((buy, "token"), else_="collateral"),
        )
    )
    with op.batch_alter_table("fills") as batch:
        for name, type_ in _NOT_NULL.items():
            batch.alter_column(name, existing_type=type_, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("fills") as batch:
        for name in (*_NOT_NULL, *_NULLABLE):
            batch.drop_column(name)
