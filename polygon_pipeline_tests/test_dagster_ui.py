"""The Dagster UI as a person uses it, in a real headless Chromium (Debian's package, driven by
playwright; no browser is downloaded): windows registered with the CLI, a backfill of all of
them launched from the partitions page, its completion and the checks' results seen in the
UI. With POLYGON_UPDATE_SCREENSHOTS=1 it refreshes the README's screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fill_keys
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline_tests.dagster_dev import ROOT, DagsterDev
from polygon_pipeline_tests.sync_helpers import environment, leader_fills
from polygon_pipeline_tests.test_cli import run_cli
from polygon_pipeline_tests.watcher_process import wait_for

CHROMIUM = Path("/usr/bin/chromium")
WINDOW, WINDOWS, FINALITY = 20, 3, 16

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def ui(devnet, leaders, tmp_path):
    """dagster dev on the devnet with WINDOWS closed windows registered; its base URL."""
    start = devnet.head() + 1
    lo = start + (-start) % WINDOW
    devnet.mine(blocks=lo - start + WINDOWS * WINDOW, fills_per_block=6)
    devnet.mine(blocks=FINALITY)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    db_url = f"sqlite:///{tmp_path / 'fills.db'}"
    engine = make_engine(db_url)
    with engine.begin() as conn:
        add_leaders(conn, leaders)
    env = {
        **environment(
            devnet,
            db_url,
            partition_window_blocks=WINDOW,
            partitions_start_block=10**9,  # the sensor stays out of the way
            reconcile_cron="0 0 1 1 *",
        ),
        "DAGSTER_HOME": str(home),
    }
    hi = lo + WINDOWS * WINDOW - 1
    registered = run_cli("windows", "register", "--from-block", str(lo), "--to-block", str(hi),
                         env=env)  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    dev = DagsterDev(env, tmp_path / "dagster_dev.log")
    try:
        wait_for(dev.ready, 180, "dagster dev up", every=1)
        yield dev.url.removesuffix("/graphql"), engine, (lo, hi)
    finally:
        dev.stop()
        engine.dispose()


def _screenshot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("POLYGON_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / name, ROOT / "docs" / name)


def test_a_backfill_launched_from_the_partitions_page(ui, devnet, leaders, tmp_path):
    base, engine, (lo, hi) = ui
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/assets/leader_fills?view=partitions")
        skip = page.get_by_role("button", name="Skip")  # the first-visit community dialog
        skip.or_(page.get_by_text(f"Missing ({WINDOWS})")).first.wait_for(timeout=60_000)
        if skip.count():
            skip.click()
        page.get_by_text(f"Missing ({WINDOWS})").wait_for(timeout=60_000)
        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="All", exact=True).click()
        dialog.get_by_text(f"{WINDOWS} partitions").wait_for()
        assert dialog.get_by_text("maximum of 50 partitions per run").count()
        dialog.get_by_role("button", name="Launch backfill").click()
        page.get_by_text("Created backfill").or_(page.get_by_text("backfill")).first.wait_for()

        def materialized() -> bool:
            page.goto(f"{base}/assets/leader_fills?view=partitions")
            counts = page.locator(r"text=/Materialized \(\d+\)/ >> visible=true").first
            counts.wait_for(timeout=30_000)  # the page has loaded its partition counts
            return counts.inner_text().strip() == f"Materialized ({WINDOWS})"

        wait_for(materialized, 240, "the windows shown as materialized", every=3)
        _screenshot(page, "dagster-partitions.png", tmp_path)
        page.goto(f"{base}/assets/leader_fills?view=checks")
        for check in ("no_coverage_gaps", "live_feed_matches_reconciliation"):
            page.locator(f"text={check} >> visible=true").first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "checks.png"))
        page.locator("text=Passed >> visible=true").first.wait_for(timeout=60_000)
        page.goto(f"{base}/assets/leader_fills?view=lineage")
        page.locator("text=leader_daily_summaries >> visible=true").first.wait_for(timeout=60_000)
        page.locator("text=Loading…").or_(page.locator("text=Loading...")).first.wait_for(
            state="hidden", timeout=30_000
        )
        _screenshot(page, "dagster-lineage.png", tmp_path)
        browser.close()
    with engine.connect() as conn:
        stored = {(tx, idx) for _, tx, idx in fill_keys(conn)}
    assert stored == leader_fills(devnet.truth(lo, hi), set(leaders))
