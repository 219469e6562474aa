"""API mode: poll each leader's trades from the Data API, asking only for what is new.

Pages newest-first until a page below the leader's cursor brings nothing new, and never
deeper than the cursor less an overlap (the API indexes late, so a trade older than the
newest one seen may still appear, just below it); the store keeps each trade's first
sighting. It never calls the chain's RPC."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from polygon_pipeline.data_api.trades import ApiTrade
from polygon_pipeline.store.api_trades_repo import advance_api_cursor, api_cursor, insert_api_trades
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.sync.context import ApiContext

log = logging.getLogger(__name__)

MAX_PAGES_PER_LEADER = 50  # per poll: older history belongs to the chain feed


@dataclass
class PollReport:
    leaders: int = 0
    pages: int = 0
    new_trades: int = 0
    throttles: int = 0
    seconds: float = 0.0


def _pages(api: ApiContext, leader: str) -> Iterator[list[ApiTrade]]:
    """A leader's trades, newest first, a page at a time: by offset inside a time window, and
    once the next offset would pass the API's ceiling (POLYGON_DATA_API_MAX_OFFSET), by a new
    window that ends at the oldest trade seen (each window has its own offset budget). `end`
    is inclusive, so the trades sharing that second are read again (and stored once)."""
    size, ceiling = api.settings.data_api_page_size, api.settings.data_api_max_offset
    end, offset = None, 0
    while True:
        page = api.client.trades(leader, size, offset, end)
        yield page
        if len(page) < size:
            return
        offset += size
        if offset + size > ceiling:
            oldest = page[-1].timestamp
            if end is not None and oldest >= end:
                log.warning(
                    "%s: more than %d trades at one second; older trades not read", leader, ceiling
                )
                return
            end, offset = oldest, 0


def poll_leader(api: ApiContext, leader: str, report: PollReport) -> None:
    with api.engine.connect() as conn:
        cursor = api_cursor(conn, leader)
    stop_before = None if cursor is None else cursor - api.settings.data_api_overlap_s
    newest = cursor or 0
    for trades in islice(_pages(api, leader), MAX_PAGES_PER_LEADER):
        report.pages += 1
        seen_at = datetime.now(tz=UTC)
        fresh = [t for t in trades if stop_before is None or t.timestamp >= stop_before]
        with api.engine.begin() as conn:
            new = insert_api_trades(conn, fresh, seen_at)
            newest = max([newest, *(t.timestamp for t in trades)])
            advance_api_cursor(conn, leader, newest)
        report.new_trades += new
        if len(fresh) < len(trades):
            return  # the overlap's depth
        if cursor is not None and new == 0 and trades and trades[-1].timestamp < cursor:
            return  # below the cursor and nothing new: late arrivals sit above this


def poll_once(api: ApiContext) -> PollReport:
    began, throttles_before = time.monotonic(), api.client.throttles
    with api.engine.connect() as conn:
        leaders = list_leaders(conn)
    report = PollReport(leaders=len(leaders))
    for leader in leaders:
        poll_leader(api, leader, report)
    report.throttles = api.client.throttles - throttles_before
    report.seconds = time.monotonic() - began
    return report


def run_poller(api: ApiContext, on_report: Callable[[PollReport], object]) -> None:
    """Poll every `POLYGON_DATA_API_POLL_S` seconds until the process is stopped (the
    command's signal handler ends it wherever it is, a back-off wait included)."""
    while True:
        on_report(poll_once(api))
        time.sleep(api.settings.data_api_poll_s)
