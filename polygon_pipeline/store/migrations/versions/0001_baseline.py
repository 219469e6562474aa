"""The schema as the first release created it, before migrations existed.

A database made then has tables but no alembic_version: store/migrate.py stamps it with
this revision and applies the later ones.

Revision ID: 0001_baseline
"""

revision = "0001_baseline"
down_revision = None


def upgrade() -> None:
    """Nothing to do: the first release created these tables itself."""


def downgrade() -> None:
    raise NotImplementedError("the baseline cannot be downgraded")
