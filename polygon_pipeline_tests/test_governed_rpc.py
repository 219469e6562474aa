"""The governed client against the devnet's emulator: throttling, faults, timeouts, secrets."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.chain.rpc_errors import classify_rpc_error
from polygon_pipeline.governed_http import parse_retry_after
from polygon_pipeline.provider_errors import Permanent, RangeTooLarge, Throttled, Transient
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline.store.schema import rpc_limiter


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            {"code": 429, "message": "Your app has exceeded its compute units per second"},
            Throttled,
        ),
        (
            {"code": -32005, "message": "daily request count exceeded, request rate limited"},
            Throttled,
        ),
        ({"code": -32007, "message": "100/second request limit reached"}, Throttled),
        ({"code": -32012, "message": "credits quota exceeded"}, Throttled),
        ({"code": -32016, "message": "over rate limit"}, Throttled),
        ({"code": -32000, "message": "Too Many Requests"}, Throttled),
        (
            {
                "code": -32005,
                "message": "query returned more than 10000 results. Try with this "
                "block range [0x10, 0x20].",
            },
            RangeTooLarge,
        ),
        (
            {
                "code": -32602,
                "message": "You can make eth_getLogs requests with up to a 2K block "
                "range. Based on your parameters, this block range should work: [0x1, 0x7d0]",
            },
            RangeTooLarge,
        ),
        ({"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"}, RangeTooLarge),
        (
            {"code": -32602, "message": "invalid argument 0: hex string without 0x prefix"},
            Permanent,
        ),
        ({"code": -32601, "message": "the method eth_foo does not exist"}, Permanent),
        ("garbage", Transient),
    ],
)
def test_classification(error, kind):
    assert type(classify_rpc_error(error, "eth_getLogs")) is kind


def test_suggested_spans_and_retry_after():
    pair = classify_rpc_error(
        {"code": -32602, "message": "this block range should work: [0x1, 0x7d0]"}, "m"
    )
    assert pair.span == 2000
    assert (
        classify_rpc_error(
            {"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"}, "m"
        ).span
        == 10_000
    )
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


@pytest.fixture
def rpc_for(devnet, tmp_path):
    made = []

    def build(url: str | None = None, rps: float = 100, **kwargs) -> GovernedRpc:
        engine = make_engine(f"sqlite:///{tmp_path / 'limiter.db'}", serializable=True)
        rpc = GovernedRpc(url or devnet.rpc_url, SharedLimiter(engine, rps, 4), **kwargs)
        made.append(rpc)
        return rpc

    yield build
    for rpc in made:
        rpc.close()
        rpc.limiter.engine.dispose()


def test_throttled_calls_back_off_and_succeed(devnet, rpc_for):
    devnet.configure(max_rps=2, throttle_style="jsonrpc-32005")
    rpc = rpc_for(rps=50)
    heads = [rpc.block_number() for _ in range(6)]
    assert len(set(heads)) == 1
    stats = devnet.stats()
    assert stats["throttled_total"] >= 1
    assert stats["served"]["eth_blockNumber"] == 6  # every call answered in the end


def test_permanent_errors_are_not_retried(devnet, rpc_for):
    rpc = rpc_for()
    with pytest.raises(Permanent, match="eth_getLogs: JSON-RPC error"):
        rpc.call("eth_getLogs", [{"fromBlock": "yesterday"}])
    assert devnet.stats()["calls"]["eth_getLogs"] == 1


def test_transient_failures_are_retried_a_bounded_number_of_times(devnet, rpc_for):
    devnet.configure(fault_5xx_rate=1.0)
    rpc = rpc_for(transient_attempts=3)
    with pytest.raises(Transient, match="HTTP 50"):
        rpc.block_number()
    assert devnet.stats()["calls"]["eth_blockNumber"] == 3


def test_timeouts_are_set(devnet, rpc_for):
    devnet.configure(latency_ms=2000)
    rpc = rpc_for(timeout=0.3, transient_attempts=2)
    began = time.monotonic()
    with pytest.raises(Transient, match="timed out"):
        rpc.block_number()
    assert time.monotonic() - began < 5


def test_garbage_results_are_retried(devnet, rpc_for):
    devnet.configure(malformed_rate=0.5, seed=3)
    rpc = rpc_for()
    assert all(rpc.block_number() >= 0 for _ in range(10))
    assert devnet.stats()["faults"]["malformed"] > 0


def test_the_url_and_key_never_reach_errors_or_logs(rpc_for, caplog):
    key = "SECRETKEY987654321"
    rpc = rpc_for(url=f"http://127.0.0.1:9/v2/{key}", transient_attempts=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(Transient) as err:
        rpc.block_number()
    assert key not in str(err.value) and key not in repr(rpc)
    assert key not in caplog.text


PAUSED_CALL = """
import sys
from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline.store.schema import rpc_limiter
limiter = SharedLimiter(make_engine(sys.argv[1], serializable=True), 100, 4)
GovernedRpc(sys.argv[2], limiter).block_number()
"""


def test_a_throttle_in_one_process_pauses_the_others(devnet, db_url):
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 100, 4)
    waited = limiter.throttled(retry_after=2.0)
    assert waited >= 2.0
    subprocess.run(
        [sys.executable, "-c", PAUSED_CALL, db_url, devnet.rpc_url], timeout=60, check=True
    )
    stats = devnet.stats()
    assert stats["served"] == {"eth_blockNumber": 1}
    # the provider saw the other process's call only once the pause was over (wall clock,
    # the same host), however long that process took to start
    assert stats["first_served_at"] >= limiter.cooldown_until()
    limiter.engine.dispose()


def test_throttles_of_requests_in_flight_count_as_one(db_url):
    """Four requests in flight meet the same 429 burst: the back-off grows once, not four
    times (or a short burst would pause everyone for a minute)."""
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 100, 4)
    for _ in range(4):
        assert limiter.throttled(retry_after=1.0) >= 0.99  # Retry-After honoured by each
    with limiter.engine.connect() as conn:
        streak = conn.execute(select(rpc_limiter.c.consecutive_throttles)).scalar_one()
    assert streak == 1
    limiter.engine.dispose()


def test_a_success_ends_the_throttle_streak_only_when_sent_during_it(db_url):
    """An answer to a request sent before the throttle says nothing of the provider since:
    the streak (and so the next back-off) stands until a request granted during it
    succeeds."""
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 100, 4)

    def streak() -> int:
        with limiter.engine.connect() as conn:
            return conn.execute(select(rpc_limiter.c.consecutive_throttles)).scalar_one()

    before = limiter.try_acquire()
    limiter.throttled(retry_after=0.05)
    limiter.release(before, succeeded=True)
    assert streak() == 1
    during = limiter.try_acquire()  # granted once the pause is over, the streak still counted
    limiter.release(during, succeeded=False)
    assert streak() == 1
    during = limiter.try_acquire()
    limiter.release(during, succeeded=True)
    assert streak() == 0
    limiter.engine.dispose()


HOG_SLOTS = """
import sys, time
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.limiter import SharedLimiter
from polygon_pipeline.store.schema import rpc_limiter
limiter = SharedLimiter(make_engine(sys.argv[1], serializable=True), 1000, 2)
assert limiter.try_acquire() and limiter.try_acquire()
print("holding", flush=True)
time.sleep(60)
"""


def test_slots_of_a_killed_process_are_reclaimed_at_once(db_url):
    hog = subprocess.Popen(
        [sys.executable, "-c", HOG_SLOTS, db_url], stdout=subprocess.PIPE, text=True
    )
    assert hog.stdout.readline().strip() == "holding"
    limiter = SharedLimiter(make_engine(db_url, serializable=True), 1000, 2)
    assert limiter.try_acquire() is None  # both slots in use by a live process
    hog.kill()
    hog.wait(timeout=10)
    assert limiter.try_acquire() is not None
    limiter.engine.dispose()
