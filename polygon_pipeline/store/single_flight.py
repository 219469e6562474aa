"""Single flight: one holder of a named role per database (one watcher per store).

PostgreSQL: a session advisory lock on a dedicated connection; it is released by the server
the moment the holder's connection dies, so a killed watcher is replaced at once.
SQLite: a lease row with an expiry that the holder renews; a dead holder's lease runs out.

A holder can lose the role without dying (its lock connection terminated, its lease taken
after a stall), so every write it makes carries a fence: the transaction checks that the
role is still its own before it commits, and rolls back otherwise.
"""

from __future__ import annotations

import time
import zlib

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from polygon_pipeline.store.holders import holder_alive, holder_id
from polygon_pipeline.store.schema import leases
from polygon_pipeline.store.upsert import upsert

LEASE_S = 15.0  # SQLite: a holder that stops renewing loses the lease after this long

# Is the advisory lock held by the backend `pid` (the holder's dedicated lock connection)?
# Keys are CRC-32s, so the lock's whole key is in `objid`.
_PG_HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = :pid AND objid::bigint = :k)"
)


class LeaseLost(Exception):
    """Another process holds the role now: this one must stop writing."""


class SingleFlight:
    """`try_acquire()` the role, `renew()` it while working, `release()` it at the end."""

    def __init__(self, engine: Engine, name: str, lease_s: float = LEASE_S):
        self.engine = engine
        self.name = name
        self.lease_s = lease_s
        self.holder = holder_id()
        self._pg_conn: Connection | None = None
        self._pg_pid: int | None = None  # the server process of that connection
        self._key = zlib.crc32(f"polygon_pipeline:{name}".encode())

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if self.is_postgres:
            if self._pg_conn is None:
                self._pg_conn = self.engine.connect()
            try:
                got, self._pg_pid = self._pg_conn.execute(
                    text("SELECT pg_try_advisory_lock(:k), pg_backend_pid()"), {"k": self._key}
                ).one()
                self._pg_conn.commit()
            except DBAPIError:  # the waiting connection died: wait on a new one
                self._drop_pg_conn()
                return False
            if got:
                self._record_holder()
            return bool(got)
        now = time.time()
        current = self.current_holder()
        # A holder on this host that died frees the lease at once; elsewhere, at expiry.
        takeover = current is not None and not holder_alive(current)
        with self.engine.begin() as conn:
            may_take = (leases.c.expires_at < now) | (leases.c.holder == self.holder)
            if takeover:
                may_take = may_take | (leases.c.holder == current)
            stmt = upsert(conn, leases, self._lease_row(now), key=["name"], where=may_take)
            return conn.execute(stmt.returning(leases.c.holder)).first() is not None

    def _record_holder(self) -> None:
        # Informational on PostgreSQL (the lock is what counts): who holds it, for messages.
        with self.engine.begin() as conn:
            conn.execute(upsert(conn, leases, self._lease_row(time.time()), key=["name"]))

    def _lease_row(self, now: float) -> dict[str, object]:
        return {"name": self.name, "holder": self.holder, "expires_at": now + self.lease_s}

    def renew(self) -> bool:
        """Extend the lease; False means it was lost (another holder took over, or on
        PostgreSQL the lock connection died: terminated, or the server restarted)."""
        if self.is_postgres:
            if self._pg_conn is None:
                return False
            try:
                held = self._pg_conn.execute(
                    _PG_HOLDS, {"pid": self._pg_pid, "k": self._key}
                ).scalar_one()
                self._pg_conn.commit()
            except DBAPIError:
                held = False
            if not held:
                self._drop_pg_conn()
            return bool(held)
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=time.time() + self.lease_s)
                .returning(leases.c.name)
            ).first()
        return moved is not None

    def fence(self, conn: Connection) -> None:
        """Raise LeaseLost unless this process still holds the role, inside the caller's
        write transaction (after its writes, so SQLite's write lock is already taken and
        nobody can take the lease between the check and the commit): raising rolls the
        writes back."""
        if self.is_postgres:
            held = (
                self._pg_pid is not None
                and conn.execute(_PG_HOLDS, {"pid": self._pg_pid, "k": self._key}).scalar_one()
            )
        else:
            held = (
                conn.execute(
                    select(leases.c.holder).where(leases.c.name == self.name)
                ).scalar_one_or_none()
                == self.holder
            )
        if not held:
            raise LeaseLost(f"the {self.name} lease is no longer held by {self.holder}")

    def current_holder(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(leases.c.holder).where(leases.c.name == self.name)
            ).scalar_one_or_none()

    def release(self) -> None:
        if self.is_postgres:
            if self._pg_conn is not None:
                try:
                    self._pg_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                    self._pg_conn.commit()
                except DBAPIError:
                    pass  # the connection is gone, and the lock went with it
                self._drop_pg_conn()
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=0.0)
            )

    def _drop_pg_conn(self) -> None:
        if self._pg_conn is not None:
            self._pg_conn.invalidate()  # never hand a dead (or lock-holding) one to the pool
            self._pg_conn.close()
        self._pg_conn = None
        self._pg_pid = None
