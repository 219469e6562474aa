"""The shared RPC budget: a rate (GCRA) and a concurrency cap that hold across processes.

Dagster runs each run in its own process, the sensor daemon is another and the watcher
another, so the budget lives in the database: every process reserves its send time from
one row, updated atomically (a row lock on PostgreSQL, an immediate transaction on
SQLite). A throttle seen by any process moves `cooldown_until`, and nobody sends before it.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from polygon_pipeline.store.holders import holder_alive, holder_id
from polygon_pipeline.store.schema import rpc_limiter, rpc_slots
from polygon_pipeline.store.upsert import insert_on_conflict

# Sends are paced this much slower than the configured rate, so that network and scheduling
# jitter never puts more than `rps` requests into any one-second window at the provider.
PACING_MARGIN = 1.05
# A slot is held for one HTTP attempt; a holder killed mid-request on another host loses it
# after this long (on this host a dead holder is noticed at once).
SLOT_LEASE_S = 45.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 60.0


@dataclass(frozen=True)
class Permit:
    slot: int
    send_at: float  # epoch seconds: the reserved time to send


class SharedLimiter:
    """`acquire` a permit (a slot and a send time), send, `release` it."""

    def __init__(self, engine: Engine, rps: float, concurrency: int, name: str = "rpc"):
        self.engine = engine
        self.name = name
        self.interval = PACING_MARGIN / rps
        self.concurrency = concurrency
        self.holder = holder_id(uuid.uuid4().hex[:8])
        self._ensure_rows()

    def _ensure_rows(self) -> None:
        with self.engine.begin() as conn:
            stmt = insert_on_conflict(conn, rpc_limiter).values(
                name=self.name, tat=0.0, cooldown_until=0.0, consecutive_throttles=0
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            stmt = insert_on_conflict(conn, rpc_slots).values(
                [
                    {"name": self.name, "slot": i, "holder": None, "expires_at": 0.0}
                    for i in range(self.concurrency)
                ]
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name", "slot"]))

    def _row(self, conn):
        query = select(rpc_limiter).where(rpc_limiter.c.name == self.name).with_for_update()
        return conn.execute(query).one()

    def try_acquire(self) -> Permit | None:
        """Reserve a free slot and the next send time; None when every slot is busy."""
        now = time.time()
        with self.engine.begin() as conn:
            row = self._row(conn)  # locks the budget: reservations are serialized
            slot = self._free_slot(conn, now)
            if slot is None:
                return None
            send_at = max(row.tat, now, row.cooldown_until)
            conn.execute(
                update(rpc_limiter)
                .where(rpc_limiter.c.name == self.name)
                .values(tat=send_at + self.interval)
            )
            conn.execute(
                update(rpc_slots)
                .where(rpc_slots.c.name == self.name, rpc_slots.c.slot == slot)
                .values(holder=self.holder, expires_at=send_at + SLOT_LEASE_S)
            )
        return Permit(slot, send_at)

    def _free_slot(self, conn, now: float) -> int | None:
        slots = conn.execute(
            select(rpc_slots.c.slot, rpc_slots.c.holder, rpc_slots.c.expires_at)
            .where(rpc_slots.c.name == self.name, rpc_slots.c.slot < self.concurrency)
            .order_by(rpc_slots.c.slot)
        ).all()
        for slot, holder, expires_at in slots:
            if expires_at < now or not holder_alive(holder):
                return slot
        return None

    def cooldown_until(self) -> float:
        with self.engine.connect() as conn:
            return conn.execute(
                select(rpc_limiter.c.cooldown_until).where(rpc_limiter.c.name == self.name)
            ).scalar_one()

    def release(self, permit: Permit, succeeded: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(rpc_slots)
                .where(rpc_slots.c.name == self.name, rpc_slots.c.slot == permit.slot)
                .where(rpc_slots.c.holder == self.holder)
                .values(holder=None, expires_at=0.0)
            )
            if succeeded:
                conn.execute(
                    update(rpc_limiter)
                    .where(rpc_limiter.c.name == self.name)
                    .where(rpc_limiter.c.consecutive_throttles > 0)
                    .values(consecutive_throttles=0)
                )

    def throttled(self, retry_after: float | None) -> float:
        """Record a throttle and pause every process: exponential back-off with full jitter
        over the consecutive throttles seen by anyone, never shorter than Retry-After.
        Throttles arriving while a pause is already in effect are the same burst (requests
        that were in flight when it began): they lengthen the pause to their Retry-After but
        do not count again. Returns the seconds until sending may resume."""
        now = time.time()
        with self.engine.begin() as conn:
            row = self._row(conn)
            same_burst = row.cooldown_until > now and row.consecutive_throttles > 0
            streak = row.consecutive_throttles + (0 if same_burst else 1)
            ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (streak - 1))
            jitter = 0.0 if same_burst else random.uniform(0, ceiling)
            delay = max(retry_after or 0.0, jitter, self.interval)
            resume = max(row.cooldown_until, now + delay)
            conn.execute(
                update(rpc_limiter)
                .where(rpc_limiter.c.name == self.name)
                .values(
                    consecutive_throttles=streak,
                    cooldown_until=resume,
                    tat=max(row.tat, resume),
                )
            )
        return resume - now
