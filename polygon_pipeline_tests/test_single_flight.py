"""Single flight on real databases: a holder that loses the role while alive notices it, and
its fenced writes roll back."""

from __future__ import annotations

import time

import pytest

from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import add_leaders, list_leaders
from polygon_pipeline.store.single_flight import LeaseLost, SingleFlight
from polygon_pipeline_tests.helpers.watcher_process import terminate_lock_holder

LEADER = "0x" + "ab" * 20


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def fenced_write(engine, flight: SingleFlight) -> None:
    """A write that commits only while `flight` holds the role."""
    with engine.begin() as conn:
        add_leaders(conn, [LEADER])
        flight.fence(conn)


def leaders_stored(engine) -> list[str]:
    with engine.connect() as conn:
        return list_leaders(conn)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_terminated_lock_connection_is_a_lost_lease(engine):
    holder, standby = SingleFlight(engine, "role"), SingleFlight(engine, "role")
    assert holder.try_acquire() and not standby.try_acquire()
    assert holder.renew()
    terminate_lock_holder(engine)
    with pytest.raises(LeaseLost):
        fenced_write(engine, holder)
    assert leaders_stored(engine) == []  # rolled back
    assert not holder.renew()
    assert standby.try_acquire()
    fenced_write(engine, standby)
    assert leaders_stored(engine) == [LEADER]
    holder.release()  # its connection is gone: nothing to release, and no error
    standby.release()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_lease_taken_after_a_stall_is_lost(engine):
    holder = SingleFlight(engine, "role", lease_s=0.2)
    other = SingleFlight(engine, "role")
    other.holder = "elsewhere:1"  # another host: only the expiry frees the lease
    assert holder.try_acquire() and not other.try_acquire()
    time.sleep(0.3)  # the holder stalls past its lease
    assert other.try_acquire()
    with pytest.raises(LeaseLost):
        fenced_write(engine, holder)
    assert leaders_stored(engine) == []
    assert not holder.renew()
    fenced_write(engine, other)
    assert leaders_stored(engine) == [LEADER]
