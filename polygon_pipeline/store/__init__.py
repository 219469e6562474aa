"""Persistence with SQLAlchemy Core: one schema, SQLite by default, PostgreSQL by URL."""
