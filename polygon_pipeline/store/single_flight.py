"""Single flight: one holder of a named role per database (one watcher per store).

PostgreSQL: a session advisory lock on a dedicated connection; it is released by the server
the moment the holder's connection dies, so a killed watcher is replaced at once.
SQLite: a lease row with an expiry that the holder renews; a dead holder's lease runs out.
"""

from __future__ import annotations

import time
import zlib

from sqlalchemy import Connection, Engine, select, text, update

from polygon_pipeline.store.holders import holder_alive, holder_id
from polygon_pipeline.store.schema import leases
from polygon_pipeline.store.upsert import insert_on_conflict

LEASE_S = 15.0  # SQLite: a holder that stops renewing loses the lease after this long


class SingleFlight:
    """`try_acquire()` the role, `renew()` it while working, `release()` it at the end."""

    def __init__(self, engine: Engine, name: str, lease_s: float = LEASE_S):
        self.engine = engine
        self.name = name
        self.lease_s = lease_s
        self.holder = holder_id()
        self._pg_conn: Connection | None = None
        self._key = zlib.crc32(f"polygon_pipeline:{name}".encode())

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self) -> bool:
        if self.is_postgres:
            if self._pg_conn is None:
                self._pg_conn = self.engine.connect()
            got = self._pg_conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}
            ).scalar_one()
            self._pg_conn.commit()
            if got:
                self._record_holder()
            return bool(got)
        now = time.time()
        current = self.current_holder()
        # A holder on this host that died frees the lease at once; elsewhere, at expiry.
        takeover = current is not None and not holder_alive(current)
        with self.engine.begin() as conn:
            stmt = insert_on_conflict(conn, leases).values(
                name=self.name, holder=self.holder, expires_at=now + self.lease_s
            )
            may_take = (leases.c.expires_at < now) | (leases.c.holder == self.holder)
            if takeover:
                may_take = may_take | (leases.c.holder == current)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
                where=may_take,
            ).returning(leases.c.holder)
            return conn.execute(stmt).first() is not None

    def _record_holder(self) -> None:
        # Informational on PostgreSQL (the lock is what counts): who holds it, for messages.
        with self.engine.begin() as conn:
            stmt = insert_on_conflict(conn, leases).values(
                name=self.name, holder=self.holder, expires_at=time.time() + self.lease_s
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
                )
            )

    def renew(self) -> bool:
        """Extend the lease; False means it was lost (another holder took over)."""
        if self.is_postgres:
            return self._pg_conn is not None and not self._pg_conn.closed
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=time.time() + self.lease_s)
                .returning(leases.c.name)
            ).first()
        return moved is not None

    def current_holder(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(leases.c.holder).where(leases.c.name == self.name)
            ).scalar_one_or_none()

    def release(self) -> None:
        if self.is_postgres:
            if self._pg_conn is not None:
                self._pg_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._pg_conn.commit()
                self._pg_conn.close()
                self._pg_conn = None
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=0.0)
            )
