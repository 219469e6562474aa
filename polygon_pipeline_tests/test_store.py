"""The store on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Text, cast, func, inspect, make_url, select, text

from polygon_pipeline.chain.addresses import InvalidAddress
from polygon_pipeline.chain.exchanges import EXCHANGES, VENUES, with_blocks
from polygon_pipeline.chain.fills import Fill
from polygon_pipeline.store import coverage_repo, cursors_repo, fills_repo, leaders_repo
from polygon_pipeline.store.engine import SQLITE_PAGE_SIZE, make_engine
from polygon_pipeline.store.migrate import (
    BASELINE,
    MIGRATIONS,
    current_revision,
    head_revision,
    migrate,
    newest_revision,
    stored_revisions,
)
from polygon_pipeline.store.schema import fills

MAX_U256 = 2**256 - 1
# Every venue trading from block 0, so that coverage tests read like the devnet's.
TEST_VENUES = with_blocks({name: (0, None) for name in VENUES})
ALL_VENUES = {e: [v.name for v in TEST_VENUES if v.exchange == e] for e in EXCHANGES}


def make_fill(i: int, **changes) -> Fill:
    base = Fill(
        chain_id=137,
        exchange="ctf",
        venue="ctf_v1",
        block_number=1000 + i // 10,
        block_hash="0x" + "ab" * 32,
        block_timestamp=1_700_000_000 + i,
        tx_hash="0x" + f"{i:064x}",
        log_index=i % 7,
        order_hash="0x" + "cd" * 32,
        maker="0x" + "11" * 20,
        taker="0x" + "22" * 20,
        maker_asset_id=0,
        taker_asset_id=MAX_U256 - i,
        maker_amount=10**6 * i,
        taker_amount=MAX_U256,
        fee=i,
        side="BUY",
        token_id=MAX_U256 - i,
        fee_asset="token",
    )
    return dataclasses.replace(base, **changes)


def _row(fill: Fill, source: str, seen_at: datetime) -> dict:
    """The fill's row as a dict, for SQLAlchemy's own insert."""
    return {
        name: values[0] for name, values in fills_repo.fill_columns([fill], source, seen_at).items()
    }


def test_upsert_is_idempotent_and_lossless(engine):
    batch = [make_fill(i) for i in range(25)]
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, batch, "backfill") == 25
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, batch, "backfill") == 0
        rows = fills_repo.fetch_fills(conn)
    assert len(rows) == 25
    by_tx = {r["tx_hash"]: r for r in rows}
    for fill in batch:
        row = by_tx[fill.tx_hash]
        assert row["taker_amount"] == MAX_U256  # 256 bits, exact
        assert row["taker_asset_id"] == fill.taker_asset_id
        assert row["maker_amount"] == fill.maker_amount
        assert row["block_timestamp"].timestamp() == fill.block_timestamp
        assert (row["side"], row["token_id"], row["token_amount"]) == (
            "BUY",
            fill.token_id,
            MAX_U256,
        )


def test_a_log_twice_in_one_batch_is_stored_once(engine):
    fill = make_fill(1)
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, [fill, fill, fill], "backfill") == 1
        assert len(fills_repo.fill_keys(conn)) == 1


def _stored(conn) -> dict[str, dict]:
    return {row["tx_hash"]: row for row in fills_repo.fetch_fills(conn)}


def test_a_large_mixed_batch_writes_exactly_what_changed(engine):
    """Thousands of fills in one call: new ones, unchanged ones already stored, ones
    re-included in another block, one whose time is now known, and duplicates. Written: the
    new and the changed, each once, amounts exact; run again: nothing, nothing changes."""
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    stored = [make_fill(i) for i in range(0, 3000, 2)]  # every even fill
    stored[0] = make_fill(0, block_timestamp=None)  # its time was not known yet
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, stored, "ws", seen_at=seen) == 1500
    moved = {i: make_fill(i, block_number=9000 + i, block_hash="0x" + "ef" * 32) for i in (2, 4)}
    batch = [moved.get(i) or make_fill(i) for i in range(3000)]  # fill 0 has its time now
    batch += batch[:100]  # a log that matched both the maker and the taker query
    later = seen + timedelta(hours=1)
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, batch, "backfill", seen_at=later) == 1500 + 2 + 1
        rows = _stored(conn)
    assert len(rows) == 3000
    for i in range(3000):
        row, fill = rows[make_fill(i).tx_hash], moved.get(i) or make_fill(i)
        assert (row["block_number"], row["block_hash"]) == (fill.block_number, fill.block_hash)
        assert row["block_timestamp"].timestamp() == fill.block_timestamp
        assert (row["taker_amount"], row["token_id"], row["maker_amount"], row["fee"]) == (
            MAX_U256, MAX_U256 - i, 10**6 * i, i,
        )  # fmt: skip
        assert (row["source"], row["first_seen_at"]) == (
            ("ws", seen) if i % 2 == 0 else ("backfill", later)
        )
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, batch, "backfill", seen_at=later) == 0
        assert _stored(conn) == rows


def test_a_known_block_time_is_kept_when_a_fill_comes_again_without_one(engine):
    with engine.begin() as conn:
        fills_repo.upsert_fills(conn, [make_fill(1)], "backfill")
        assert fills_repo.upsert_fills(conn, [make_fill(1, block_timestamp=None)], "ws") == 0
        moved = make_fill(1, block_timestamp=None, block_hash="0x" + "ef" * 32)
        assert fills_repo.upsert_fills(conn, [moved], "ws") == 1
        (row,) = fills_repo.fetch_fills(conn)
    assert row["block_hash"] == moved.block_hash
    assert row["block_timestamp"].timestamp() == make_fill(1).block_timestamp


def test_batches_in_one_transaction_are_written_one_by_one(engine):
    """Each batch of a transaction is written on its own, nothing of an earlier one moved
    again: a fill re-included in another block and back ends up where the last batch says."""
    there, back = make_fill(3, block_hash="0x" + "ef" * 32), make_fill(3)
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, [make_fill(3), make_fill(4)], "backfill") == 2
        assert fills_repo.upsert_fills(conn, [there, make_fill(5)], "backfill") == 2
        assert fills_repo.upsert_fills(conn, [back, make_fill(4)], "backfill") == 1
        assert {r["tx_hash"]: r["block_hash"] for r in fills_repo.fetch_fills(conn)} == {
            make_fill(i).tx_hash: make_fill(i).block_hash for i in (3, 4, 5)
        }


def test_fills_and_the_cursor_commit_together_or_not_at_all(engine):
    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted), engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, [make_fill(i) for i in range(1200)], "ws") == 1200
        _cover(conn, "ctf", 1000, 1119)
        raise Interrupted
    with engine.begin() as conn:
        assert fills_repo.fetch_fills(conn) == []
        assert cursors_repo.get_cursor(conn, "ctf") is None
        # the next transaction writes the same fills as new ones
        assert fills_repo.upsert_fills(conn, [make_fill(i) for i in range(1200)], "ws") == 1200
        assert _cover(conn, "ctf", 1000, 1119) == 1119
    with engine.connect() as conn:
        assert len(fills_repo.fill_keys(conn)) == 1200


def test_bulk_writes_store_what_sqlalchemy_stores(engine):
    """Column by column, a fill written by upsert_fills is stored exactly as SQLAlchemy's
    own insert stores it (on SQLite: the same zero-padded text, the same time format), so
    queries that bind values through the column types find it."""
    seen = datetime(2026, 1, 1, 12, 30, 15, 250_000, tzinfo=UTC)
    fast, plain = make_fill(1), make_fill(1, tx_hash="0x" + "77" * 32)
    with engine.begin() as conn:
        fills_repo.upsert_fills(conn, [fast], "ws", seen_at=seen)
        conn.execute(fills.insert(), _row(plain, "ws", seen))
        names = [c.name for c in fills.columns if c.name not in ("id", "tx_hash")]
        as_text = select(*(cast(fills.c[name], Text) for name in names))
        stored = {
            tx: tuple(conn.execute(as_text.where(fills.c.tx_hash == tx)).one())
            for tx in (fast.tx_hash, plain.tx_hash)
        }
        found = conn.execute(
            select(fills.c.tx_hash).where(
                fills.c.token_id == MAX_U256 - 1,
                fills.c.taker_amount == MAX_U256,
                fills.c.block_timestamp == datetime.fromtimestamp(fast.block_timestamp, UTC),
                fills.c.first_seen_at == seen,
            )
        ).scalars()
        assert set(found) == {fast.tx_hash, plain.tx_hash}
    assert stored[fast.tx_hash] == stored[plain.tx_hash]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_each_written_fill_is_notified_once_at_commit(engine, db_url):
    """One NOTIFY per fill written or retracted, with the payload a bot parses; fills an
    upsert left unchanged are not announced."""
    conninfo = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def payload(fill, removed=False):
        return json.dumps(
            {"chain_id": 137, "tx_hash": fill.tx_hash, "log_index": fill.log_index}
            | {"exchange": "ctf", "maker": fill.maker, "taker": fill.taker}
            | {"block_number": fill.block_number, "removed": removed}
        )

    moved = make_fill(2, block_number=5000, block_hash="0x" + "ef" * 32)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {fills_repo.FILLS_CHANNEL}")
        with engine.begin() as conn:
            fills_repo.upsert_fills(conn, [make_fill(i) for i in range(1200)], "backfill")
        with engine.begin() as conn:
            batch = [make_fill(i) for i in range(1200)]
            fills_repo.upsert_fills(conn, [moved, *batch[:2], *batch[3:]], "backfill")
        with engine.begin() as conn:
            fills_repo.retract_fills(conn, [(make_fill(7).key, make_fill(7).block_hash)])
        heard = [n.payload for n in listener.notifies(timeout=20, stop_after=1202)]
    assert sorted(heard[:1200]) == sorted(payload(make_fill(i)) for i in range(1200))
    assert heard[1200:] == [payload(moved), payload(make_fill(7), removed=True)]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_bulk_write_outside_a_transaction_is_refused(engine):
    """Autocommit would empty the staging table between the COPY and the move: refused
    rather than silently writing nothing."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn, pytest.raises(RuntimeError, match="transaction"):
        fills_repo.upsert_fills(conn, [make_fill(1)], "backfill")
    with engine.begin() as conn:
        assert fills_repo.upsert_fills(conn, [make_fill(1)], "backfill") == 1


@pytest.mark.parametrize("amount", [2**256, -1])
def test_an_amount_outside_uint256_is_refused_and_nothing_is_written(engine, amount):
    batch = [make_fill(1), make_fill(2, fee=amount)]
    with pytest.raises(ValueError, match=f"{amount} is not a uint256"), engine.begin() as conn:
        fills_repo.upsert_fills(conn, batch, "backfill")
    with engine.connect() as conn:
        assert fills_repo.fetch_fills(conn) == []


def test_first_sighting_is_kept_and_block_fields_follow_the_chain(engine):
    seen_live = datetime(2026, 1, 1, tzinfo=UTC)
    live = make_fill(3, block_timestamp=None)
    with engine.begin() as conn:
        fills_repo.upsert_fills(conn, [live], "ws", seen_at=seen_live)
    later = make_fill(3, block_hash="0x" + "ef" * 32, block_number=2000)
    with engine.begin() as conn:
        assert (
            fills_repo.upsert_fills(
                conn, [later], "backfill", seen_at=seen_live + timedelta(minutes=5)
            )
            == 1
        )
        (row,) = fills_repo.fetch_fills(conn)
    assert row["source"] == "ws"
    assert row["first_seen_at"] == seen_live
    assert row["block_hash"] == later.block_hash and row["block_number"] == 2000
    assert row["block_timestamp"].timestamp() == later.block_timestamp


def test_upsert_refuses_an_unknown_source(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="source"):
        fills_repo.upsert_fills(conn, [make_fill(1)], "api")


def _cover(conn, exchange: str, lo: int, hi: int) -> int | None:
    """Record [lo, hi] as reconciled, as a reconciliation's chunk does; the new cursor."""
    coverage_repo.record_range(conn, exchange, lo, hi, 1, ALL_VENUES[exchange])
    return cursors_repo.refresh_cursor(conn, exchange, TEST_VENUES)


def test_the_cursor_never_passes_a_hole(engine):
    with engine.begin() as conn:
        assert cursors_repo.get_cursor(conn, "ctf") is None
        assert _cover(conn, "ctf", 100, 500) == 500  # the first write counts from its start
        assert _cover(conn, "ctf", 300, 400) == 500  # inside: never backwards
        assert _cover(conn, "ctf", 600, 900) == 500  # a hole 501..599 below it: stays
        assert _cover(conn, "ctf", 480, 550) == 550  # overlaps: moves
        assert _cover(conn, "ctf", 551, 599) == 900  # closes the hole: over the later range
        assert _cover(conn, "ctf", 901, 950) == 950  # adjacent: moves
        assert _cover(conn, "negrisk", 0, 7) == 7  # per exchange
    with engine.connect() as conn:
        assert cursors_repo.get_cursor(conn, "ctf") == 950
        assert cursors_repo.get_cursor(conn, "negrisk") == 7


def test_a_range_below_a_hole_pulls_the_cursor_back_to_it(engine):
    """`backfill 200..384` then `0..100` on an empty store: the cursor may not stay at 384
    over the hole 101..199; it counts from the lowest block reconciled, as the first did."""
    with engine.begin() as conn:
        assert _cover(conn, "ctf", 200, 384) == 384
        assert _cover(conn, "ctf", 0, 100) == 100
        assert coverage_repo.gaps(conn, "ctf", TEST_VENUES, 0, 384) == [(101, 199)]
        assert _cover(conn, "ctf", 101, 199) == 384  # closing it carries the cursor over


def test_leaders_are_validated_lowercased_and_all_or_nothing(engine):
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55's own example
    with engine.begin() as conn:
        assert leaders_repo.add_leaders(conn, [checksummed, checksummed.lower()]) == 1
    bad_checksum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
    with pytest.raises(InvalidAddress, match="checksum"), engine.begin() as conn:
        leaders_repo.add_leaders(conn, ["0x" + "33" * 20, bad_checksum])
    with pytest.raises(InvalidAddress, match="0x123"), engine.begin() as conn:
        leaders_repo.add_leaders(conn, ["0x" + "44" * 20, "0x123"])
    with engine.connect() as conn:
        assert leaders_repo.list_leaders(conn) == [checksummed.lower()]
    with engine.begin() as conn:
        assert leaders_repo.remove_leaders(conn, [checksummed]) == 1
        assert leaders_repo.list_leaders(conn) == []


def test_leader_file_errors_name_the_line():
    text = "# leaders\naddress,label\n0x" + "11" * 20 + ",alice\n\n0xnothex\n"
    with pytest.raises(InvalidAddress, match=r"line 5: .*0xnothex"):
        leaders_repo.read_leader_file(text)
    assert leaders_repo.read_leader_file("0x" + "AA" * 20 + "  # bob\n") == ["0x" + "aa" * 20]


def test_coverage_gaps(engine):
    from polygon_pipeline.store.coverage_repo import gaps, record_range

    with engine.begin() as conn:
        for lo, hi in ((100, 199), (150, 250), (300, 399), (400, 400)):
            record_range(conn, "ctf", lo, hi, 1, ALL_VENUES["ctf"])
        record_range(conn, "negrisk", 0, 1000, 1, ALL_VENUES["negrisk"])
    with engine.connect() as conn:
        assert gaps(conn, "ctf", TEST_VENUES, 100, 400) == [(251, 299)]
        assert gaps(conn, "ctf", TEST_VENUES, 50, 450) == [(50, 99), (251, 299), (401, 450)]
        assert gaps(conn, "ctf", TEST_VENUES, 120, 240) == []
        assert gaps(conn, "negrisk", TEST_VENUES, 0, 1000) == []
        assert gaps(conn, "ctf", TEST_VENUES, 500, 600) == [(500, 600)]


def test_live_feed_comparison(engine):
    from polygon_pipeline.store.live_sightings_repo import (
        compare_live,
        first_sighting_block,
        forget_sightings,
        record_sighting,
    )

    seen = datetime(2026, 1, 1, tzinfo=UTC)
    reconciled = [make_fill(i) for i in range(20)]  # blocks 1000..1001
    with engine.begin() as conn:
        fills_repo.upsert_fills(conn, reconciled, "backfill")
        for fill in reconciled[:15]:  # the feed saw 15 of the 20
            record_sighting(conn, fill, seen)
        record_sighting(conn, make_fill(50), seen)  # the feed saw a fill the chain dropped
        record_sighting(conn, make_fill(60), seen)  # ... and one it withdrew itself
        forget_sightings(conn, [make_fill(60).key])
    with engine.connect() as conn:
        assert first_sighting_block(conn) == 1000
        result = compare_live(conn, "ctf", 1000, 1010)
    assert (result.reconciled, result.misses, result.extras) == (20, 5, 1)


def _first_release_database(url: str) -> None:
    """A database as the first release left it: V1-only fills, no migration record."""
    engine = make_engine(url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, BASELINE)
        conn.execute(text("DROP TABLE alembic_version"))
        old = {c["name"] for c in inspect(conn).get_columns("fills")}
        assert "venue" not in old and "maker_asset_id" in old
        row = _row(make_fill(1), "ws", datetime(2026, 1, 1, tzinfo=UTC))
        sell = _row(
            make_fill(2, maker_asset_id=9, taker_asset_id=0, maker_amount=4, taker_amount=3),
            "backfill",
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        conn.execute(
            fills.insert(),
            [{k: v for k, v in r.items() if k in old} for r in (row, sell)],
        )
    engine.dispose()


def test_an_up_to_date_database_is_recognized_without_alembic(engine):
    """The newest migration file names Alembic's head, and a migrated database records it:
    what migrate() checks before it imports Alembic."""
    assert newest_revision() == head_revision()
    assert stored_revisions(engine) == [head_revision()]


FILLS_INDEXES = {"ix_fills_maker_block", "ix_fills_exchange_block"}


def _fill_indexes(engine) -> set[str]:
    """The fills' indexes, less the one PostgreSQL builds for the identity's constraint."""
    indexes = inspect(engine).get_indexes("fills")
    return {i["name"] for i in indexes if not i.get("duplicates_constraint")}


def test_fills_are_indexed_for_their_reads_only(engine):
    """A leader's fills are read by maker, a chunk's by exchange and block, a fill by its
    identity; no read goes by taker, so no index makes every write pay for it (0006). A
    migrated store: test_a_first_release_database_is_migrated_in_place."""
    assert _fill_indexes(engine) == FILLS_INDEXES


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_new_sqlite_store_has_16k_pages_and_an_old_one_keeps_its_own(db_url, tmp_path):
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE other (x)").connection.close()  # 4 KiB pages
    for url, size in ((db_url, SQLITE_PAGE_SIZE), (f"sqlite:///{old}", 4096)):
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        engine.dispose()


def test_a_first_release_database_is_migrated_in_place(db_url):
    """Rows stored before CLOB V2 support are kept, tagged V1, with their trade columns
    derived; the schema version is recorded, and migrating again changes nothing."""
    _first_release_database(db_url)
    engine = make_engine(db_url)  # migrates
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        rows = {r["tx_hash"]: r for r in fills_repo.fetch_fills(conn)}
    buy, sell = rows[make_fill(1).tx_hash], rows[make_fill(2).tx_hash]
    assert (buy["venue"], buy["layout"], buy["side"], buy["fee_asset"]) == (
        "ctf_v1", "v1", "BUY", "token",
    )  # fmt: skip
    assert (buy["token_id"], buy["collateral_amount"], buy["token_amount"]) == (
        make_fill(1).taker_asset_id, 10**6, MAX_U256,
    )  # fmt: skip
    assert (sell["side"], sell["token_id"], sell["collateral_amount"], sell["token_amount"]) == (
        "SELL", 9, 3, 4,
    )  # fmt: skip
    assert buy["source"] == "ws" and buy["builder"] is None
    assert _fill_indexes(engine) == FILLS_INDEXES
    migrate(engine)
    with engine.begin() as conn:  # the new columns are usable at once
        fills_repo.upsert_fills(conn, [make_fill(5, venue="ctf_v2", layout="v2")], "backfill")
        assert len(fills_repo.fill_keys(conn)) == 3
    engine.dispose()


def test_coverage_rows_merge_as_written(engine):
    """Reruns added a row per chunk (2,613 rows on one database): ranges of one exchange,
    leader set and venue set that overlap or touch are merged in the writing transaction;
    ranges of another venue set or leader set stay apart."""
    from polygon_pipeline.store.leader_coverage_repo import record_leader_range
    from polygon_pipeline.store.schema import leader_ranges, reconciled_ranges

    def count(table) -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()

    for _ in range(3):
        for lo in range(0, 500, 10):
            with engine.begin() as conn:
                coverage_repo.record_range(conn, "ctf", lo, lo + 9, 1, ["ctf_v1", "ctf_v2"])
                record_leader_range(conn, "ctf", lo, lo + 9, 2, ["ctf_v1", "ctf_v2"])
    assert count(reconciled_ranges) == count(leader_ranges) == 1
    with engine.begin() as conn:
        coverage_repo.record_range(conn, "ctf", 500, 509, 1, ["ctf_v1"])  # another venue set
        coverage_repo.record_range(conn, "ctf", 400, 409, 3, ["ctf_v1", "ctf_v2"])  # leaders
        coverage_repo.record_range(conn, "negrisk", 0, 9, 1, ["negrisk_v1"])
    assert count(reconciled_ranges) == 4
    with engine.connect() as conn:
        assert coverage_repo.gaps(conn, "ctf", TEST_VENUES, 0, 509) == [(500, 509)]  # no V2


def test_coverage_from_before_0005_says_what_was_queried_and_is_merged(db_url):
    """At 0003, ranges without a leader set may come from the release before venues (V1
    queried alone): 0005 records them as V1-only, later ones as every venue of the family,
    and merges the row per chunk that reruns had added."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0003_leader_history")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        old = {"exchange": "ctf", "reconciled_at": now}
        conn.execute(
            text(
                "INSERT INTO reconciled_ranges (exchange, from_block, to_block, reconciled_at, "
                "leader_set_id) VALUES (:exchange, :lo, :hi, :reconciled_at, :set_id)"
            ),
            [{**old, "lo": lo, "hi": lo + 9, "set_id": None} for lo in range(0, 300, 10)]
            + [{**old, "lo": lo, "hi": lo + 9, "set_id": 1} for lo in range(300, 600, 10)]
            + [{**old, "lo": 0, "hi": 599, "set_id": 1, "exchange": "v3"}],
        )
    engine.dispose()
    engine = make_engine(db_url)  # migrates
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT exchange, from_block, to_block, venues FROM reconciled_ranges")
        ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("ctf", 0, 299, "ctf_v1"),
            ("ctf", 300, 599, "ctf_v1,ctf_v2"),
            ("v3", 0, 599, "v3"),
        ]
        assert coverage_repo.gaps(conn, "ctf", TEST_VENUES, 0, 599) == [(0, 299)]  # V2 unread
    engine.dispose()
