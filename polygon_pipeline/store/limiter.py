"""The shared RPC budget: a rate and a concurrency cap that hold across processes, and hold at
the provider, whatever the local clock's luck.

Dagster runs each run in its own process, the sensor daemon is another and the watcher
another, so the budget lives in the database: one row per budget (`rpc_limiter`), updated
under a lock (a row lock on PostgreSQL, an immediate transaction on SQLite), and its tokens
(`rpc_slots`). A permit is a send *now*, granted when three things allow it:

- the pace: grants are about 1/rps apart (`tat`, the earliest next one, moved on from the time
  read under the lock when a permit is granted; nobody reserves ahead, and a grant that came
  late, up to CATCH_UP_S, lets the next ones catch up);
- a concurrency slot: held while the request is in flight;
- a window slot, one of `rps` (its whole part): held from the grant until one second after
  the request reached the provider, which is before its answer came back and (allowed for)
  at most the arrival allowance after this process sent it. So no 1-second window at the
  provider holds more than `rps` requests, however late a sender woke after its grant or an
  answer took: delays cost pace, never a 429.

A throttle seen by any process moves `cooldown_until`, and nobody sends before it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update

from polygon_pipeline import backoff
from polygon_pipeline.store.holders import holder_alive, holder_id
from polygon_pipeline.store.schema import rpc_limiter, rpc_slots
from polygon_pipeline.store.upsert import insert_on_conflict

log = logging.getLogger(__name__)

# The bounds of the settings (POLYGON_RPC_MAX_RPS, _CONCURRENCY, POLYGON_DATA_API_MAX_RPS).
MIN_RPS, MAX_RPS = 0.1, 1000.0
MAX_CONCURRENCY = 256
# The provider's window: it counts a request in any 1-second window that holds its arrival
# (plus a hair for clock resolution).
WINDOW_S = 1.0
WINDOW_GUARD_S = 0.002
# How long a request handed to the network may take to be counted by the provider (network,
# the provider's own queues), by default: POLYGON_RPC_ARRIVAL_ALLOWANCE_MS. A slow answer (an
# eth_getLogs that takes seconds) then holds its window slot this long past the send, not for
# its whole processing time.
ARRIVAL_ALLOWANCE_S = 0.1
# A slot is held for one HTTP attempt; a holder killed mid-request on another host loses it
# after this long (on this host a dead holder is noticed at once).
SLOT_LEASE_S = 45.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 60.0
# The longest pause a provider's Retry-After can impose: a buggy or hostile provider's
# "Retry-After: 86400" must not freeze every process for a day.
RETRY_AFTER_CAP_S = 300.0
# Nothing this code writes lies further ahead than these: a row beyond them was written by an
# older release (which reserved send times ahead) or an unbounded setting, and is reset.
TAT_HORIZON_S = 1 / MIN_RPS + 1.0
COOLDOWN_HORIZON_S = RETRY_AFTER_CAP_S + 1.0
_WINDOW_POLL_S = 0.005  # every window slot in flight: look again this often
# Lateness of grants (a sender woken late on a loaded machine) that later grants may make up
# for; the window slots keep the provider's cap whatever the pace.
CATCH_UP_S = 0.25


@dataclass(frozen=True)
class Permit:
    slot: int  # the concurrency slot
    window_slot: int
    send_at: float  # epoch seconds: when the permit was granted
    in_streak: bool = False  # granted while throttles were counted: a success ends the streak


@dataclass(frozen=True)
class _Slots:
    """`count` slots of a budget in `rpc_slots`, each held by one request from its grant
    until `linger_s` after its release (or after its holder is found dead)."""

    name: str
    count: int
    linger_s: float

    def ensure(self, conn: Connection) -> None:
        stmt = insert_on_conflict(conn, rpc_slots).values(
            [
                {"name": self.name, "slot": i, "holder": None, "expires_at": 0.0}
                for i in range(self.count)
            ]
        )
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["name", "slot"]))

    def free(self, conn: Connection, now: float) -> tuple[int | None, float | None]:
        """A free slot; else None and the seconds until the first lingering one frees
        (None when every slot is held by a request in flight)."""
        rows = conn.execute(
            select(rpc_slots.c.slot, rpc_slots.c.holder, rpc_slots.c.expires_at)
            .where(rpc_slots.c.name == self.name, rpc_slots.c.slot < self.count)
            .order_by(rpc_slots.c.slot)
        ).all()
        soonest = None
        for slot, holder, expires_at in rows:
            if holder is not None and not holder_alive(holder):  # killed mid-request
                holder, expires_at = None, now + self.linger_s
                self.hold(conn, slot, None, expires_at)
            if expires_at <= now:  # released and lingered out, or its lease ran out
                return slot, None
            if holder is None:
                soonest = min(soonest or math.inf, expires_at - now)
        return None, soonest

    def hold(self, conn: Connection, slot: int, holder: str | None, expires_at: float) -> None:
        conn.execute(
            update(rpc_slots)
            .where(rpc_slots.c.name == self.name, rpc_slots.c.slot == slot)
            .values(holder=holder, expires_at=expires_at)
        )

    def give_back(self, conn: Connection, slot: int, holder: str, free_at: float) -> None:
        conn.execute(
            update(rpc_slots)
            .where(rpc_slots.c.name == self.name, rpc_slots.c.slot == slot)
            .where(rpc_slots.c.holder == holder)
            .values(holder=None, expires_at=free_at)
        )


@dataclass(frozen=True)
class BudgetState:
    """What `doctor` shows of one budget."""

    name: str
    next_send_in_s: float  # > 0: nobody may send for this long (the rate)
    paused_for_s: float  # > 0: a throttle's pause still running
    held_slots: int
    slots: int
    consecutive_throttles: int

    @property
    def poisoned(self) -> bool:
        """A state no process of this release writes: everyone would hang on it."""
        return self.next_send_in_s > TAT_HORIZON_S or self.paused_for_s > COOLDOWN_HORIZON_S

    def describe(self) -> str:
        return (
            f"{self.name}: next send in {max(0.0, self.next_send_in_s):.1f}s, paused for "
            f"{max(0.0, self.paused_for_s):.1f}s, {self.held_slots}/{self.slots} slots held, "
            f"{self.consecutive_throttles} throttles in a row"
        )


def budget_states(conn: Connection, now: float) -> list[BudgetState]:
    """Every budget's state (read only: doctor must not change what it reports)."""
    held: dict[str, int] = {}
    slots: dict[str, int] = {}
    for name, holder, expires_at in conn.execute(
        select(rpc_slots.c.name, rpc_slots.c.holder, rpc_slots.c.expires_at)
    ):
        slots[name] = slots.get(name, 0) + 1
        if expires_at >= now and holder_alive(holder):
            held[name] = held.get(name, 0) + 1
    return [
        BudgetState(
            row.name,
            row.tat - now,
            row.cooldown_until - now,
            held.get(row.name, 0),
            slots.get(row.name, 0),
            row.consecutive_throttles,
        )
        for row in conn.execute(select(rpc_limiter).order_by(rpc_limiter.c.name))
    ]


class SharedLimiter:
    """`try_acquire` a permit (to send now), send, `release` it."""

    def __init__(
        self,
        engine: Engine,
        rps: float,
        concurrency: int,
        name: str = "rpc",
        arrival_allowance_s: float = ARRIVAL_ALLOWANCE_S,
    ):
        if not MIN_RPS <= rps <= MAX_RPS:
            raise ValueError(f"rate must be {MIN_RPS} to {MAX_RPS:.0f} requests/s, got {rps}")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must be 1 to {MAX_CONCURRENCY}, got {concurrency}")
        self.engine = engine
        self.name = name
        self.interval = 1 / rps
        self.concurrency = concurrency
        self.arrival_allowance_s = arrival_allowance_s
        self._in_flight = _Slots(name, concurrency, linger_s=0.0)
        # A provider's 1-second window admits whole requests: 2.5/s is 2 in any second.
        self._window = _Slots(f"{name}:window", max(1, math.floor(rps)), WINDOW_S + WINDOW_GUARD_S)
        self.holder = holder_id(uuid.uuid4().hex[:8])
        # Threads of one process ask the database in turn: woken together they would all
        # take the budget's lock only for all but one to be sent back to sleep.
        self._turn = threading.Lock()
        with self.engine.begin() as conn:
            stmt = insert_on_conflict(conn, rpc_limiter).values(
                name=self.name, tat=0.0, cooldown_until=0.0, consecutive_throttles=0
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            self._in_flight.ensure(conn)
            self._window.ensure(conn)

    def _locked_row(self, conn: Connection):
        """The budget's row, locked: grants are serialized."""
        query = select(rpc_limiter).where(rpc_limiter.c.name == self.name).with_for_update()
        return conn.execute(query).one()

    def _set(self, conn: Connection, **values: float | int) -> None:
        conn.execute(update(rpc_limiter).where(rpc_limiter.c.name == self.name).values(**values))

    def try_acquire(self) -> Permit | None:
        """A permit to send now, after waiting (outside any transaction) for the pace, any
        pause and a window slot; None when every concurrency slot is busy."""
        with self._turn:
            return self._acquire()

    def _acquire(self) -> Permit | None:
        while True:
            with self.engine.begin() as conn:
                row = self._locked_row(conn)
                now = time.time()  # read under the lock: the true order of the grants
                tat, cooldown = self._heal(conn, row, now)
                wait = max(tat, cooldown) - now
                if wait <= 0:
                    slot, _ = self._in_flight.free(conn, now)
                    if slot is None:
                        return None
                    window_slot, wait = self._window.free(conn, now)
                    if window_slot is not None:
                        lease = now + SLOT_LEASE_S
                        self._in_flight.hold(conn, slot, self.holder, lease)
                        self._window.hold(conn, window_slot, self.holder, lease)
                        self._set(conn, tat=max(tat, now - CATCH_UP_S) + self.interval)
                        return Permit(slot, window_slot, now, row.consecutive_throttles > 0)
            # Not yet (the pace, a pause), or the window is full: until its first slot lingers
            # out, or (every one in flight) a little while.
            backoff.sleep(_WINDOW_POLL_S if wait is None else wait)  # cut short by a stop

    def _heal(self, conn: Connection, row, now: float) -> tuple[float, float]:
        """The row's next send time and pause, reset where they lie beyond anything this
        release writes (an older release reserved ahead; a rate of 0.0001/s once reserved
        hours ahead and froze every process on the database)."""
        tat, cooldown = row.tat, row.cooldown_until
        if tat - now > TAT_HORIZON_S or cooldown - now > COOLDOWN_HORIZON_S:
            log.warning(
                "%s budget: next send %.0fs ahead, paused %.0fs ahead: beyond any this release "
                "sets (an older release or an out-of-range setting wrote it); reset to now",
                self.name,
                tat - now,
                cooldown - now,
            )
            tat, cooldown = min(tat, now), min(cooldown, now)
            self._set(conn, tat=tat, cooldown_until=cooldown)
        return tat, cooldown

    def cooldown_until(self) -> float:
        with self.engine.connect() as conn:
            return conn.execute(
                select(rpc_limiter.c.cooldown_until).where(rpc_limiter.c.name == self.name)
            ).scalar_one()

    def release(self, permit: Permit, succeeded: bool, sent_at: float | None = None) -> None:
        """Give the permit's slots back once the answer is in (or the attempt failed). Its
        window slot stays taken for the window the request may be counted in: one second
        from its arrival at the provider, which came before the answer (now) and, for a
        request that was `sent_at` (the moment this process handed it to the network, after
        any delay of its own), no later than the arrival allowance after that."""
        now = time.time()
        arrived_by = min(now, (sent_at or now) + self.arrival_allowance_s)
        with self.engine.begin() as conn:
            self._in_flight.give_back(conn, permit.slot, self.holder, now)
            self._window.give_back(
                conn, permit.window_slot, self.holder, arrived_by + WINDOW_S + WINDOW_GUARD_S
            )
            if succeeded and permit.in_streak:  # else nothing to reset: spare the statement
                conn.execute(
                    update(rpc_limiter)
                    .where(rpc_limiter.c.name == self.name)
                    .where(rpc_limiter.c.consecutive_throttles > 0)
                    .values(consecutive_throttles=0)
                )

    def throttled(self, retry_after: float | None) -> float:
        """Record a throttle and pause every process: exponential back-off with full jitter
        over the consecutive throttles seen by anyone, never shorter than Retry-After (itself
        capped at RETRY_AFTER_CAP_S). Throttles arriving while a pause is already in effect
        are the same burst (requests that were in flight when it began): they lengthen the
        pause to their Retry-After but do not count again. Returns the seconds until sending
        may resume."""
        if retry_after is not None and retry_after > RETRY_AFTER_CAP_S:
            log.warning(
                "%s budget: provider asked to wait %.0fs (Retry-After); waiting %.0fs, the cap",
                self.name,
                retry_after,
                RETRY_AFTER_CAP_S,
            )
            retry_after = RETRY_AFTER_CAP_S
        with self.engine.begin() as conn:
            row = self._locked_row(conn)
            now = time.time()
            _, cooldown = self._heal(conn, row, now)
            same_burst = cooldown > now and row.consecutive_throttles > 0
            streak = row.consecutive_throttles + (0 if same_burst else 1)
            jitter = (
                0.0 if same_burst else backoff.full_jitter(BACKOFF_BASE_S, BACKOFF_CAP_S, streak)
            )
            delay = max(retry_after or 0.0, jitter, self.interval)
            resume = max(cooldown, now + delay)
            self._set(conn, consecutive_throttles=streak, cooldown_until=resume)
        return resume - now
