"""Alembic environment: always run programmatically by store/migrate.py on its connection."""

from alembic import context

from polygon_pipeline.store.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
