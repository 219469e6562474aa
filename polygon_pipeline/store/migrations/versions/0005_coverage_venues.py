"""Coverage says which venues were queried: `venues` on reconciled_ranges and leader_ranges.

A range counts only for the venues it lists (store/coverage_repo.py). What older rows
queried is known only by when they were written, and the one trace of that is the leader set
(0003): a range without one may come from the release before venues existed, which queried
each family's V1 contract alone, so it counts for that venue only (a family without a V1
contract had one venue). The first catch-up after this upgrade reads the other venues there
again, once, instead of trusting "V1 queried" as "everything covered". Ranges with a leader
set (and every leader_ranges row, 0003 on) were written by code that queried every venue of
the family. The names are frozen here: the registry may change, this history does not. Rows that
overlap or touch with the same key and venues are merged (reruns had added one per chunk).

Revision ID: 0005_coverage_venues
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_coverage_venues"
down_revision = "0004_chain_identity"

# What each family's reconciliation queried: before venues existed, and from 0002 on.
_BEFORE_VENUES = {"ctf": "ctf_v1", "negrisk": "negrisk_v1", "v3": "v3"}
_IDS_PER_STATEMENT = 1_000  # bound parameters per DELETE (SQLite's limit is far above)
_ALL_VENUES = {"ctf": "ctf_v1,ctf_v2", "negrisk": "negrisk_v1,negrisk_v2", "v3": "v3"}


def _by_family(exchange: sa.ColumnElement, names: dict[str, str]) -> sa.ColumnElement:
    return sa.case(*((exchange == family, v) for family, v in names.items()), else_="")


def upgrade() -> None:
    for name in ("reconciled_ranges", "leader_ranges"):
        op.add_column(name, sa.Column("venues", sa.Text(), nullable=True))
        table = sa.table(
            name,
            sa.column("id"),
            sa.column("exchange"),
            sa.column("from_block"),
            sa.column("to_block"),
            sa.column("reconciled_at"),
            sa.column("venues"),
            sa.column("leader_set_id"),
        )
        known = _by_family(table.c.exchange, _ALL_VENUES)
        if name == "reconciled_ranges":
            before = _by_family(table.c.exchange, _BEFORE_VENUES)
            known = sa.case((table.c.leader_set_id.is_(None), before), else_=known)
        op.get_bind().execute(sa.update(table).values(venues=known))
        _merge_rows(table)
        with op.batch_alter_table(name) as batch:
            batch.alter_column("venues", existing_type=sa.Text(), nullable=False)


def _merge_rows(table: sa.TableClause) -> None:
    """Earlier releases added a row per chunk on every rerun: rows of one exchange, leader
    set and venue set that overlap or touch become one (the newest reconciled_at kept)."""
    conn = op.get_bind()
    c = table.c
    rows = conn.execute(
        sa.select(c.id, c.exchange, c.leader_set_id, c.venues, c.from_block, c.to_block).order_by(
            c.exchange, c.leader_set_id, c.venues, c.from_block
        )
    ).all()
    merged: list[list] = []  # [key, from, to, ids]
    for row_id, exchange, set_id, venues, lo, hi in rows:
        key = (exchange, set_id, venues)
        last = merged[-1] if merged else None
        if last is not None and last[0] == key and lo <= last[2] + 1:
            last[2] = max(last[2], hi)
            last[3].append(row_id)
        else:
            merged.append([key, lo, hi, [row_id]])
    for _key, lo, hi, ids in merged:
        if len(ids) == 1:
            continue
        newest = conn.execute(sa.select(sa.func.max(c.reconciled_at)).where(c.id.in_(ids)))
        conn.execute(
            sa.update(table)
            .where(c.id == ids[0])
            .values(from_block=lo, to_block=hi, reconciled_at=newest.scalar_one())
        )
        for at in range(1, len(ids), _IDS_PER_STATEMENT):
            conn.execute(sa.delete(table).where(c.id.in_(ids[at : at + _IDS_PER_STATEMENT])))


def downgrade() -> None:
    for name in ("reconciled_ranges", "leader_ranges"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("venues")
