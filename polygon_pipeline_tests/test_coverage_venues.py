"""Coverage says which venues were queried, on a devnet of its own that trades V1 before
CUTOVER and V2 (with ExchangeV3) from it: a database from before venues existed, upgraded
from every earlier schema, ends equal to the truth after one catch-up; a venue override that
left a venue out records no coverage for it; reruns do not grow the coverage table."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, select, text

from polygon_pipeline.chain.events import V1
from polygon_pipeline.chain.exchanges import EXCHANGES, MAINNET_VENUES
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline.store.cursors_repo import get_cursor
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fetch_fills
from polygon_pipeline.store.migrate import BASELINE, _config, current_revision, head_revision
from polygon_pipeline.store.schema import reconciled_ranges
from polygon_pipeline.sync.reconcile import reconcile
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.sync import leader_fills

CUTOVER = 60
MINED = 140  # blocks of trading on both sides of the cutover
ALL = list(EXCHANGES)
NEVER = 10**12  # a first block no devnet reaches: the venue is never queried


def _windows(v1: str, others: str) -> str:
    """A POLYGON_VENUE_BLOCKS value: `v1` for the V1-layout venues, `others` for the rest."""
    return ",".join(f"{v.name}={v1 if v.layout is V1 else others}" for v in MAINNET_VENUES)


# What the release before venue support queried: each family's V1 contract alone.
V1_ONLY = _windows("0..", f"{NEVER}..")


@pytest.fixture(scope="module")
def devnet_session(tmp_path_factory):
    """Overrides the session's devnet for this module: its own chain, cutover at CUTOVER."""
    handle = start_devnet(tmp_path_factory.mktemp("venues"), "--layout-blocks", f"v2={CUTOVER}")
    handle.mine(blocks=MINED, fills_per_block=6)
    handle.mine(blocks=FINALITY + 2)
    yield handle
    handle.stop()


def _stored(ctx) -> set[tuple[str, int]]:
    with ctx.engine.connect() as conn:
        return {(r["tx_hash"], r["log_index"]) for r in fetch_fills(conn)}


def _to_revision(db_url: str, revision: str | None) -> None:
    """Take the database back to the schema of `revision` as an older release left it: the
    migrations down to the baseline (dropping what later releases added), then the
    migrations of that time up to `revision`; None: the first release, which had no
    alembic_version table at all."""
    engine = make_engine(db_url, create_schema=False)
    with engine.begin() as conn:
        command.downgrade(_config(conn), BASELINE)
        if revision is None:
            conn.execute(text("DROP TABLE alembic_version"))
        elif revision != BASELINE:
            command.upgrade(_config(conn), revision)
    assert current_revision(engine) == revision
    engine.dispose()


EARLIER = [None, BASELINE, "0002_venues", "0003_leader_history", "0004_chain_identity"]


@pytest.mark.parametrize("revision", EARLIER)
def test_an_upgrade_from_before_venues_ends_equal_to_the_truth(
    devnet, make_ctx, db_url, leaders, revision
):
    """The release before venue support recorded coverage 0..N while querying only the V1
    contracts; opened by this code after an upgrade (from its own schema, or after older
    releases migrated it to theirs), one `backfill --since-cursor` stores exactly the
    truth: the V2 and ExchangeV3 fills below the cursor too."""
    old = make_ctx(leaders, venue_blocks=V1_ONLY, backfill_max_range=25)
    old_end = devnet.head() - FINALITY - 5
    reconcile(old, ["ctf", "negrisk"], 0, old_end)  # what that release did
    old.close()
    _to_revision(db_url, revision)

    ctx = make_ctx(leaders, backfill_max_range=25)  # the devnet's venues; migrates to head
    assert current_revision(ctx.engine) == head_revision()
    if revision is None:  # `doctor` no longer says ok
        doctor = run_cli("doctor", env=devnet.pipeline_env(db_url))
        assert doctor.returncode == 1 and "backfill --since-cursor" in doctor.stdout
    report = reconcile(ctx, ALL)  # `backfill --since-cursor`
    truth = leader_fills(devnet.truth(0, report.to_block), set(leaders))
    v2 = leader_fills(devnet.truth(CUTOVER, old_end - 25), set(leaders))
    assert v2 and _stored(ctx) == truth
    with ctx.engine.connect() as conn:
        assert {e: get_cursor(conn, e) for e in ALL} == dict.fromkeys(ALL, report.to_block)
    if revision is None:
        assert run_cli("doctor", env=devnet.pipeline_env(db_url)).returncode == 0


def test_a_venue_left_out_by_an_override_is_read_once_the_override_is_fixed(
    devnet, make_ctx, leaders
):
    """An override that ends the V1 venues before they stopped trading (a chunk of 37 blocks
    ends inside their true window) stores no coverage for them past that block, so once the
    override is corrected one catch-up finds what the wrong one left out."""
    end = devnet.head() - FINALITY
    wrong = _windows(f"0..{CUTOVER - 25}", f"{CUTOVER}..")
    ctx = make_ctx(leaders, venue_blocks=wrong, backfill_max_range=37)
    reconcile(ctx, ALL, 0, end)
    truth = leader_fills(devnet.truth(0, end), set(leaders))
    assert _stored(ctx) < truth  # the wrong override lost fills
    ctx.close()
    fixed = make_ctx(leaders, backfill_max_range=37)
    report = reconcile(fixed, ALL)  # `backfill --since-cursor`
    assert _stored(fixed) == leader_fills(devnet.truth(0, report.to_block), set(leaders))


@pytest.mark.parametrize("max_range", [37, 500])
def test_a_venue_ending_inside_a_chunk_loses_nothing(devnet, make_ctx, leaders, max_range):
    """Venues whose windows end or start inside a chunk are queried over all of it."""
    end = devnet.head() - FINALITY
    windows = _windows(f"0..{CUTOVER - 1}", f"{CUTOVER}..")
    ctx = make_ctx(leaders, venue_blocks=windows, backfill_max_range=max_range)
    reconcile(ctx, ALL, 0, end)
    assert _stored(ctx) == leader_fills(devnet.truth(0, end), set(leaders))


def test_reruns_do_not_grow_the_coverage_table(devnet, make_ctx, leaders):
    """A row per chunk on every rerun grew reconciled_ranges without bound; adjacent and
    overlapping ranges of one exchange, leader set and venue set are merged as written."""
    end = devnet.head() - FINALITY
    ctx = make_ctx(leaders, backfill_max_range=7)
    for _ in range(3):
        reconcile(ctx, ALL, 0, end)
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(reconciled_ranges.c.exchange, func.count()).group_by(
                reconciled_ranges.c.exchange
            )
        ).all()
    # one row per run of blocks with the same venues trading (they change at the cutover)
    venues = ctx.settings.venues
    changes = {
        e: sum(
            1
            for b in range(1, end + 1)
            if {v for v in venues if v.exchange == e and v.active(b, b)}
            != {v for v in venues if v.exchange == e and v.active(b - 1, b - 1)}
        )
        for e in ALL
    }
    assert dict(rows) == {e: 1 + changes[e] for e in ALL}
    assert max(changes.values()) == 1  # the cutover: a test that can fail
