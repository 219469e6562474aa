"""API mode: poll each leader's trades from the Data API, asking only for what is new.

Pages newest-first until a page below the leader's cursor brings nothing new, and never
deeper than the cursor less an overlap (the API indexes late, so a trade older than the
newest one seen may still appear, just below it); the store keeps each trade's first
sighting. It never calls the chain's RPC."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from polygon_pipeline.data_api.client import DataApiClient
from polygon_pipeline.settings import Settings
from polygon_pipeline.store.api_trades_repo import advance_api_cursor, api_cursor, insert_api_trades
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.leaders_repo import list_leaders
from polygon_pipeline.store.limiter import SharedLimiter

API_BUDGET = "data_api"
MAX_PAGES_PER_LEADER = 50


@dataclass
class PollReport:
    leaders: int = 0
    pages: int = 0
    new_trades: int = 0
    throttles: int = 0
    seconds: float = 0.0


@dataclass
class ApiContext:
    settings: Settings
    engine: Engine
    client: DataApiClient
    _limiter_engine: Engine = field(repr=False, default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiContext:
        url = settings.database_url
        limiter_engine = make_engine(url, create_schema=False, serializable=True)
        limiter = SharedLimiter(
            limiter_engine, rps=settings.data_api_max_rps, concurrency=2, name=API_BUDGET
        )
        client = DataApiClient(
            settings.data_api_url.get_secret_value(), limiter, secrets=settings.secret_values()
        )
        return cls(settings, make_engine(url), client, limiter_engine)

    def close(self) -> None:
        self.client.close()
        self._limiter_engine.dispose()
        self.engine.dispose()


def poll_leader(api: ApiContext, leader: str, report: PollReport) -> None:
    settings = api.settings
    with api.engine.connect() as conn:
        cursor = api_cursor(conn, leader)
    stop_before = None if cursor is None else cursor - settings.data_api_overlap_s
    newest = cursor or 0
    for page in range(MAX_PAGES_PER_LEADER):
        trades = api.client.trades(
            leader, settings.data_api_page_size, page * settings.data_api_page_size
        )
        report.pages += 1
        seen_at = datetime.now(tz=UTC)
        fresh = [t for t in trades if stop_before is None or t.timestamp >= stop_before]
        with api.engine.begin() as conn:
            new = insert_api_trades(conn, fresh, seen_at)
            newest = max([newest, *(t.timestamp for t in trades)])
            advance_api_cursor(conn, leader, newest)
        report.new_trades += new
        if len(trades) < settings.data_api_page_size or len(fresh) < len(trades):
            return  # the end of the list, or the overlap's depth
        if cursor is not None and new == 0 and trades[-1].timestamp < cursor:
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


def run_poller(api: ApiContext, stop: threading.Event, on_report=None) -> None:
    """Poll every `POLYGON_DATA_API_POLL_S` seconds until `stop` is set."""
    while not stop.is_set():
        report = poll_once(api)
        if on_report:
            on_report(report)
        stop.wait(api.settings.data_api_poll_s)
