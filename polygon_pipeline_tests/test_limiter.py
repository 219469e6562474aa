"""The shared budget against bad input and bad luck: out-of-range settings are refused, a
budget poisoned far ahead is reset instead of waited on (and doctor says so), a huge
Retry-After is capped, and senders delayed between their permit and their request never put
more than the cap into any 1-second window at the provider."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time

import pytest
import requests
from sqlalchemy import update

from polygon_pipeline.settings import ConfigError, load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.store.limiter import RETRY_AFTER_CAP_S, SharedLimiter, budget_states
from polygon_pipeline.store.schema import rpc_limiter


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POLYGON_RPC_MAX_RPS", "0.0001"),
        ("POLYGON_RPC_MAX_RPS", "inf"),
        ("POLYGON_RPC_MAX_RPS", "nan"),
        ("POLYGON_RPC_MAX_RPS", "1e9"),
        ("POLYGON_RPC_MAX_CONCURRENCY", "1000000"),
        ("POLYGON_RPC_MAX_CONCURRENCY", "0"),
        ("POLYGON_DATA_API_MAX_RPS", "0"),
        ("POLYGON_DATA_API_POLL_S", "0"),
        ("POLYGON_WATCH_RECONNECT_MAX_S", "1e12"),
        ("POLYGON_WATCH_LEADERS_POLL_S", "-1"),
        ("POLYGON_WATCH_SILENCE_S", "inf"),
    ],
)
def test_rate_concurrency_and_poll_settings_are_bounded(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"{variable}: ") and "\n" not in str(err.value)


def test_the_limiter_refuses_what_settings_refuse(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}", serializable=True)
    for rps, concurrency in ((float("inf"), 4), (1e-4, 4), (5, 1_000_000)):
        with pytest.raises(ValueError):
            SharedLimiter(engine, rps, concurrency)
    engine.dispose()


def _poison(limiter: SharedLimiter, tat_ahead: float, pause_ahead: float) -> None:
    now = time.time()
    with limiter.engine.begin() as conn:
        conn.execute(
            update(rpc_limiter)
            .where(rpc_limiter.c.name == limiter.name)
            .values(tat=now + tat_ahead, cooldown_until=now + pause_ahead)
        )


def _states(engine) -> dict:
    with engine.connect() as conn:
        return {s.name: s for s in budget_states(conn, time.time())}


def test_a_budget_poisoned_far_ahead_is_reset_not_waited_on(db_url):
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 5, 4)
    _poison(limiter, tat_ahead=5.8 * 3600, pause_ahead=86_400)  # what 0.0001/s once wrote
    assert _states(limiter.engine)["rpc"].poisoned
    got = []
    worker = threading.Thread(target=lambda: got.append(limiter.try_acquire()), daemon=True)
    worker.start()
    worker.join(timeout=60)  # not hours: the state is reset, not waited out
    assert got and got[0] is not None
    healed = _states(limiter.engine)["rpc"]
    assert not healed.poisoned and healed.held_slots == 1
    limiter.engine.dispose()


def test_retry_after_is_capped(db_url):
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 5, 4)
    assert limiter.throttled(retry_after=86_400) <= RETRY_AFTER_CAP_S
    assert limiter.cooldown_until() - time.time() <= RETRY_AFTER_CAP_S
    assert not _states(limiter.engine)["rpc"].poisoned
    limiter.engine.dispose()


def test_doctor_fails_on_a_poisoned_budget_and_the_next_request_heals_it(devnet, db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, devnet.info()["leaders"][:1])
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 5, 4)
    _poison(limiter, tat_ahead=21_000, pause_ahead=0)
    env = devnet.pipeline_env(db_url)

    def doctor() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "polygon_pipeline", "doctor"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    first = doctor()
    assert first.returncode == 1, first.stdout
    status = {line.split()[1]: line.split()[0] for line in first.stdout.splitlines()[1:]}
    assert status == {"db": "ok", "limiter": "FAIL", "rpc": "ok", "ws": "ok"}
    assert "beyond anything this release sets" in first.stdout
    second = doctor()  # doctor's own RPC check went through the budget and reset it
    assert second.returncode == 0, second.stdout
    limiter.engine.dispose()
    engine.dispose()


def test_delayed_senders_never_crowd_a_window_at_the_provider(devnet, db_url):
    """Senders that lose up to 300 ms between their permit and their request (a loaded
    machine, a slow network) still put at most `cap` requests in any 1-second window."""
    cap, threads, each = 10, 4, 8
    devnet.configure(max_rps=cap)
    devnet.reset_stats()
    engine = make_engine(db_url, serializable=True)
    limiter = SharedLimiter(engine, cap, threads)
    rng = random.Random(7)
    delays = [[rng.uniform(0, 0.3) for _ in range(each)] for _ in range(threads)]

    def sender(lag: list[float]) -> None:
        for delay in lag:
            permit = limiter.try_acquire()
            while permit is None:
                time.sleep(0.01)
                permit = limiter.try_acquire()
            time.sleep(max(0.0, permit.send_at - time.time()) + delay)
            body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
            requests.post(devnet.rpc_url, json=body, timeout=30)
            limiter.release(permit, True)

    workers = [threading.Thread(target=sender, args=(lag,)) for lag in delays]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    stats = devnet.stats()
    assert stats["served"]["eth_blockNumber"] == threads * each
    assert stats["throttled_total"] == 0
    assert stats["peak_rps_received"] <= cap
    engine.dispose()
