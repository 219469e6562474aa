"""The Dagster UI as a person uses it, in a real headless Chromium (Debian's package, driven by
playwright; no browser is downloaded): windows registered with the CLI, one exchange and a
range of windows (not all) selected in the launch dialog of the partitions page and launched
as a backfill, its completion, only those cells of the exchange x window grid materialized,
a cell's own figures and its checks' results seen in the UI; then, in Dagster's instance,
what the backfill ran (one run, each cell's checks evaluated on that cell in it). With
POLYGON_UPDATE_SCREENSHOTS=1 it refreshes the docs' screenshots (docs/img/)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, RunsFilter

from polygon_pipeline.defs.fills.partitions import cell_key
from polygon_pipeline.devnet.anvil import FINALITY_DEPTH as FINALITY
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import fill_keys
from polygon_pipeline.store.leaders_repo import add_leaders
from polygon_pipeline.sync.window_keys import parse_window, window_key
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.dagster_dev import ROOT, DagsterDev
from polygon_pipeline_tests.helpers.sync import environment, leader_fills
from polygon_pipeline_tests.helpers.watcher_process import wait_for

CHROMIUM = Path("/usr/bin/chromium")
WINDOW, WINDOWS, SELECTED = 20, 5, 3
CELL_CHECKS = ("window_coverage_complete", "window_live_feed_matches")
EXCHANGE = "negrisk"
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
        shutil.copy(tmp_path / name, ROOT / "docs" / "img" / name)


def test_one_exchange_and_a_range_of_windows_backfilled_from_the_launch_dialog(
    ui, devnet, leaders, tmp_path
):
    base, engine, keys, home = ui
    chosen = keys[:SELECTED]  # a range: the first windows, not all of them
    cells = {cell_key(EXCHANGE, key) for key in chosen}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(NO_COMMUNITY_DIALOG)
        page = context.new_page()
        page.goto(f"{base}/assets/leader_fills?view=partitions")
        page.get_by_text("Materialized (0)").wait_for(timeout=60_000)
        total = int(re.search(r"Missing \((\d+)\)", page.content())[1])

        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        title = dialog.get_by_text("Launch runs to materialize")  # a click there closes a list
        pickers = dialog.get_by_text("Select a partition or create one")  # one a dimension
        expect(pickers).to_have_count(2)
        pickers.first.click()
        dialog.locator("label", has_text=EXCHANGE).click()
        title.click()
        expect(dialog.get_by_text("Filter partitions")).to_have_count(0)
        expect(pickers).to_have_count(1)  # the exchange's picker now names it: the windows' left
        pickers.first.click()
        search = dialog.get_by_placeholder("Filter partitions", exact=True)
        for key in chosen:  # the list shows a few windows at a time: each is searched for
            search.fill(key)
            dialog.locator("label", has_text=key).click()
        title.click()
        expect(dialog.get_by_text("Filter partitions")).to_have_count(0)
        dialog.get_by_text(f"{SELECTED} partitions").wait_for()
        _screenshot(page, "dagster-grid-launch.png", tmp_path)
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

        page.goto(f"{base}/assets/leader_fills?view=partitions")
        page.get_by_text(f"Materialized ({SELECTED})").wait_for(timeout=60_000)
        page.get_by_text(f"Missing ({total - SELECTED})").wait_for()
        _screenshot(page, "dagster-grid.png", tmp_path)

        def passed(check: str) -> bool:
            """The check's latest evaluation, on its own detail page, reads Passed, on one of
            the chosen cells."""
            page.goto(f"{base}/assets/leader_fills?view=checks&checkDetail={check}")
            result = page.get_by_text("Evaluation result", exact=True).locator("..")
            result.wait_for(timeout=60_000)
            latest = page.get_by_text("Partition", exact=True).locator("..").inner_text()
            return result.inner_text().split() == ["Evaluation", "result", "Passed"] and any(
                cell in latest for cell in cells
            )

        for check in CELL_CHECKS:
            wait_for(lambda c=check: passed(c), 120, f"{check} shown as passed", every=3)
        page.get_by_text("Partitions", exact=True).last.click()  # the check's own grid
        page.get_by_text(f"Passed ({SELECTED})").wait_for(timeout=60_000)  # the chosen cells
        page.get_by_text("Failed (0)", exact=True).wait_for()
        _screenshot(page, "dagster-grid-checks.png", tmp_path)

        page.goto(f"{base}/assets/leader_fills?view=lineage")
        page.locator("text=leader_daily_summaries >> visible=true").first.wait_for(timeout=60_000)
        page.locator("text=Loading…").or_(page.locator("text=Loading...")).first.wait_for(
            state="hidden", timeout=30_000
        )
        _screenshot(page, "dagster-lineage.png", tmp_path)
        browser.close()
    (lo, _), (_, hi) = parse_window(chosen[0]), parse_window(chosen[-1])
    truth = [r for r in devnet.truth(lo, hi) if r["exchange"] == EXCHANGE]
    with engine.connect() as conn:
        stored = {(tx, idx) for _, tx, idx in fill_keys(conn)}
    assert stored == leader_fills(truth, set(leaders)) != set()  # the cells, nothing else
    _cells_checked_in_their_run(home, backfill_id, cells)


def _cells_checked_in_their_run(home: Path, backfill_id: str, cells: set[str]) -> None:
    """The backfill ran as one run (one exchange's adjacent windows: the backfill policy),
    only the chosen cells are materialized, and that run evaluated each cell's checks on that
    cell, all passed."""
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert run.is_success
        assert instance.get_materialized_partitions(AssetKey("leader_fills")) == cells
        evaluated = {
            (key.name, record.partition): record.status.value
            for key in run.asset_check_selection
            if key.name in CELL_CHECKS
            for record in instance.event_log_storage.get_asset_check_execution_history(key, 50)
            if record.run_id == run.run_id
        }
    assert set(evaluated) == {(name, cell) for name in CELL_CHECKS for cell in cells}
    assert set(evaluated.values()) == {"SUCCEEDED"}
