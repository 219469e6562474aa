"""The Dagster UI as a person uses it, in a real headless Chromium (Debian's package, driven by
playwright; no browser is downloaded): windows registered with the CLI, a range of them (not
all) selected in the launch dialog of the partitions page and launched as a backfill, its
completion, the windows' own figures and the named checks' results seen in the UI; then, in
Dagster's instance, what the backfill ran (one run for the range, checks on its windows
only). With POLYGON_UPDATE_SCREENSHOTS=1 it refreshes the README's screenshots."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from polygon_pipeline.defs.fills.partitions import parse_window, window_key
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fill_keys
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.dagster_dev import ROOT, DagsterDev
from polygon_pipeline_tests.helpers.sync import environment, leader_fills
from polygon_pipeline_tests.helpers.watcher_process import wait_for

CHROMIUM = Path("/usr/bin/chromium")
WINDOW, WINDOWS, SELECTED = 20, 5, 3
CHECKS = ("no_coverage_gaps", "live_feed_matches_reconciliation")
# The first visit to a webserver on localhost opens a "join the community" dialog over the
# page (Dagster's CommunityNux), dismissed for good through this localStorage key.
NO_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]


@pytest.fixture
def ui(devnet, leaders, tmp_path):
    """dagster dev on the devnet with WINDOWS closed windows registered: its base URL, the
    store, the windows' keys and DAGSTER_HOME."""
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
    registered = run_cli("windows", "register", "--to-block", str(hi), env=env)
    assert registered.returncode == 0, registered.stderr
    dev = DagsterDev(env, tmp_path / "dagster_dev.log")
    try:
        wait_for(dev.ready, 180, "dagster dev up", every=1)
        keys = [window_key(lo + i * WINDOW, WINDOW) for i in range(WINDOWS)]
        yield dev.url.removesuffix("/graphql"), engine, keys, home
    finally:
        dev.stop()
        engine.dispose()


def _screenshot(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name))
    if os.environ.get("POLYGON_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / name, ROOT / "docs" / name)


def test_a_range_of_windows_backfilled_from_the_partitions_page(ui, devnet, leaders, tmp_path):
    base, engine, keys, home = ui
    chosen = keys[:SELECTED]  # a range: the first windows, not all of them
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(NO_COMMUNITY_DIALOG)
        page = context.new_page()
        page.goto(f"{base}/assets/leader_fills?view=partitions")
        page.get_by_text(f"Missing ({WINDOWS})").wait_for(timeout=60_000)

        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        for key in chosen:
            dialog.locator("label", has_text=key).click()
        dialog.get_by_text(f"{SELECTED} partitions").wait_for()
        for key in chosen:
            expect(dialog.locator("label", has_text=key).get_by_role("checkbox")).to_be_checked()
        dialog.get_by_text("Launch runs to materialize").click()  # closes the drop-down
        expect(dialog.get_by_text("Filter partitions")).to_have_count(0)
        _screenshot(page, "dagster-backfill-range.png", tmp_path)
        assert dialog.get_by_text("maximum of 50 partitions per run").count()
        dialog.get_by_role("button", name="Launch backfill").click()
        toast = page.get_by_text(re.compile(r"Created backfill \w+"))
        toast.wait_for(timeout=60_000)
        backfill_id = toast.inner_text().split()[-1]

        page.goto(f"{base}/runs/b/{backfill_id}")  # the backfill's own page
        status = page.get_by_text("Status", exact=True).locator("..")

        def backfill_succeeded() -> bool:
            page.reload()
            status.wait_for(timeout=60_000)
            return status.inner_text().split() == ["Status", "Succeeded"]

        wait_for(backfill_succeeded, 300, "the backfill shown as succeeded", every=3)
        page.get_by_text("100% completed").wait_for()

        page.goto(f"{base}/assets/leader_fills?view=partitions")
        page.get_by_text(f"Materialized ({SELECTED})").wait_for(timeout=60_000)
        page.get_by_text(f"Missing ({WINDOWS - SELECTED})").wait_for()
        page.get_by_text(chosen[1], exact=True).first.click()  # a window's own figures
        w_lo, w_hi = parse_window(chosen[1])

        def figure(name: str) -> str:
            row = page.locator("tr", has=page.get_by_text(name, exact=True))
            row.wait_for(timeout=60_000)
            return row.inner_text().split()[-1]

        assert figure("block_range") == f"{w_lo}..{w_hi}"
        own = leader_fills(devnet.truth(w_lo, w_hi), set(leaders))
        assert int(figure("fills_found")) == len(own) > 0
        _screenshot(page, "dagster-partitions.png", tmp_path)

        def passed(check: str) -> bool:
            """The check's latest evaluation, on its own detail page, reads Passed."""
            page.goto(f"{base}/assets/leader_fills?view=checks&checkDetail={check}")
            result = page.get_by_text("Evaluation result", exact=True).locator("..")
            result.wait_for(timeout=60_000)
            return result.inner_text().split() == ["Evaluation", "result", "Passed"]

        for check in CHECKS:
            wait_for(lambda c=check: passed(c), 120, f"{check} shown as passed", every=3)
        _screenshot(page, "dagster-checks.png", tmp_path)

        page.goto(f"{base}/assets/leader_fills?view=lineage")
        page.locator("text=leader_daily_summaries >> visible=true").first.wait_for(timeout=60_000)
        page.locator("text=Loading…").or_(page.locator("text=Loading...")).first.wait_for(
            state="hidden", timeout=30_000
        )
        _screenshot(page, "dagster-lineage.png", tmp_path)
        browser.close()
    (lo, _), (_, hi) = parse_window(chosen[0]), parse_window(chosen[-1])
    with engine.connect() as conn:
        stored = {(tx, idx) for _, tx, idx in fill_keys(conn)}
    assert stored == leader_fills(devnet.truth(lo, hi), set(leaders))  # the range, nothing else
    _one_run_checked_on_its_windows(home, backfill_id, chosen, f"blocks {lo}..{hi}")


def _one_run_checked_on_its_windows(home: Path, backfill_id: str, chosen, blocks: str) -> None:
    """The backfill ran as one run for the adjacent windows (the backfill policy), every
    exchange in it, and the checks Dagster added to that run looked at its windows only."""
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(runs) == 1 and runs[0].is_success
        assert set(chosen) <= instance.get_materialized_partitions(AssetKey("leader_fills"))
        selected = runs[0].asset_check_selection
        assert {key.name for key in selected} == set(CHECKS)
        # that run's own evaluations (the fill_checks schedule may have evaluated them since)
        checks = [
            record
            for key in selected
            for record in instance.event_log_storage.get_asset_check_execution_history(key, 20)
            if record.run_id == runs[0].run_id
        ]
    assert len(checks) == len(CHECKS)
    assert all(c.status.value == "SUCCEEDED" for c in checks)
    for check in checks:
        scope = check.event.dagster_event.asset_check_evaluation_data.metadata.get("scope")
        assert scope is None or blocks in scope.value
