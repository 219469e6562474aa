"""Shared fixtures: one real devnet per test session (per pytest-xdist worker: each worker is
a session of its own), and a fresh database per test on both SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from polygon_pipeline.devnet.emulator.policy import Policy
from polygon_pipeline.devnet.handle import DevnetHandle, start_devnet
from polygon_pipeline.settings import load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.context import SyncContext
from polygon_pipeline_tests.helpers.scratch_db import scratch_postgres
from polygon_pipeline_tests.helpers.sync import environment
from polygon_pipeline_tests.helpers.watcher_process import WATCH_SETTINGS, WatcherProcess


def pytest_configure(config: pytest.Config) -> None:
    """A session started in the background (`cmd &` from a script: SIGINT ignored) behaves
    as one started from a terminal. Otherwise Dagster, run in process, maps SIGTERM to
    SIGINT's disposition (`setup_interrupt_handlers`), so SIGTERM is ignored too, and every
    process started afterwards inherits that; `make` then keeps SIGTERM ignored, and
    `kill` of `make demo` does nothing."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Workers per core for `-n auto` (the default run). Most tests wait on the devnet, Dagster or
# a database rather than compute, so two per core keep the cores busy: on 2 cores the default
# run takes about half the time of one process. More workers than 8 mostly add devnets.
WORKERS_PER_CORE, MAX_WORKERS = 2, 8
FAST = Path(__file__).parent / "fast"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many workers `-n auto` starts. None where PYTEST_XDIST_AUTO_NUM_WORKERS is set
    (pytest-xdist reads it). 0 (this process) for a run of the pure tests alone: they need no
    devnet or database, and starting workers would take longer than running them."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    paths = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if paths and all(path.is_relative_to(FAST) for path in paths):
        return 0
    return min(MAX_WORKERS, WORKERS_PER_CORE * (os.cpu_count() or 1))


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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A new, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with scratch_postgres("pp_test") as url:
            yield url


@pytest.fixture
def engine(db_url):
    """An engine on the fresh database, schema migrated."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


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


@pytest.fixture
def start_watcher(devnet, db_url, tmp_path):
    """Starts watcher processes on the devnet and this test's store (its leaders added
    first); every one still running is killed at the end."""
    started: list[WatcherProcess] = []

    def start(
        leaders: list[str], extra_env: dict | None = None, cwd=None, **settings
    ) -> WatcherProcess:
        eng = make_engine(db_url)
        with eng.begin() as conn:
            add_leaders(conn, leaders)
        eng.dispose()
        env = {**environment(devnet, db_url, **{**WATCH_SETTINGS, **settings}), **(extra_env or {})}
        watcher = WatcherProcess(env, tmp_path / f"watcher{len(started)}.log", cwd, devnet)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        watcher.stop(signal.SIGKILL)
