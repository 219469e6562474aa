"""Shared fixtures: one real devnet per test session, and a fresh database per test on both
SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline_tests.sync_helpers import environment

PG_ADMIN_URL = os.environ.get(
    "POLYGON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def devnet_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetHandle]:
    handle = start_devnet(tmp_path_factory.mktemp("devnet"))
    yield handle
    handle.stop()


@pytest.fixture
def devnet(devnet_session: DevnetHandle) -> Iterator[DevnetHandle]:
    """The session's devnet with a default provider policy and zeroed counters."""
    devnet_session.configure(**Policy().as_dict())
    devnet_session.reset_stats()
    yield devnet_session
    devnet_session.set_clock(None)
    devnet_session.configure(**Policy().as_dict())


@pytest.fixture
def leaders(devnet: DevnetHandle) -> list[str]:
    return devnet.info()["leaders"]


def _fresh_postgres_database() -> Iterator[str]:
    name = f"pp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _fresh_postgres_database()


@pytest.fixture
def make_ctx(devnet, db_url, monkeypatch):
    """make_ctx(leaders, **settings) -> SyncContext on the devnet and a fresh database."""
    made: list[SyncContext] = []

    def build(leaders: list[str], **overrides) -> SyncContext:
        for key, value in environment(devnet, db_url, **overrides).items():
            monkeypatch.setenv(key, value)
        for key in [k for k in os.environ if k.startswith("POLYGON_")]:
            if key not in environment(devnet, db_url, **overrides):
                monkeypatch.delenv(key)
        engine = make_engine(db_url)
        with engine.begin() as conn:
            add_leaders(conn, leaders)
        engine.dispose()
        ctx = SyncContext.from_settings(load_settings())
        made.append(ctx)
        return ctx

    yield build
    for ctx in made:
        ctx.close()
