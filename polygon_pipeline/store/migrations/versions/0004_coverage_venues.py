"""Coverage says which venues were queried: `venues` on reconciled_ranges and leader_ranges.

A range counts only for the venues it lists (store/coverage_repo.py). What older rows
queried is known only by when they were written, and the one trace of that is the leader set
(0003): a range without one may come from the release before venues existed, which queried
each family's V1 contract alone, so it counts for that venue only (a family without a V1
contract had one venue). The first catch-up after this upgrade reads the other venues there
again, once, instead of trusting "V1 queried" as "everything covered". Ranges with a leader
set (and every leader_ranges row, 0003 on) were written by code that queried every venue of
the family. The names are frozen here: the registry may change, this history does not.

Revision ID: 0004_coverage_venues
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_coverage_venues"
down_revision = "0003_leader_history"

# What each family's reconciliation queried: before venues existed, and from 0002 on.
_BEFORE_VENUES = {"ctf": "ctf_v1", "negrisk": "negrisk_v1", "v3": "v3"}
_ALL_VENUES = {"ctf": "ctf_v1,ctf_v2", "negrisk": "negrisk_v1,negrisk_v2", "v3": "v3"}


def _by_family(exchange: sa.ColumnElement, names: dict[str, str]) -> sa.ColumnElement:
    return sa.case(*((exchange == family, v) for family, v in names.items()), else_="")


def upgrade() -> None:
    for name in ("reconciled_ranges", "leader_ranges"):
        op.add_column(name, sa.Column("venues", sa.Text(), nullable=True))
        table = sa.table(
            name, sa.column("exchange"), sa.column("venues"), sa.column("leader_set_id")
        )
        known = _by_family(table.c.exchange, _ALL_VENUES)
        if name == "reconciled_ranges":
            before = _by_family(table.c.exchange, _BEFORE_VENUES)
            known = sa.case((table.c.leader_set_id.is_(None), before), else_=known)
        op.get_bind().execute(sa.update(table).values(venues=known))
        with op.batch_alter_table(name) as batch:
            batch.alter_column("venues", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    for name in ("reconciled_ranges", "leader_ranges"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("venues")
