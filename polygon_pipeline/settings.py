"""One typed settings object read from the environment and validated at start.

Every problem is reported as one line naming the environment variable; URLs are kept as
secrets so they never appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from polygon_pipeline.chain.exchanges import Venue, parse_venue_blocks, with_blocks
from polygon_pipeline.chain.log_queries import MAKER_POSITION, TAKER_POSITION
from polygon_pipeline.env_secrets import DB_URL_VARIABLE, secrets_of
from polygon_pipeline.redact import redact_db_url, redact_url
from polygon_pipeline.store.limiter import MAX_CONCURRENCY, MAX_RPS, MIN_RPS

DEFAULT_DB_PATH = Path(".data") / "polygon_pipeline.db"
DB_BACKENDS = ("sqlite", "postgresql")  # the store is tested on both, and only on these
# Which side of a fill a leader is looked for on (the topic position of each query). Every
# order's fill carries its owner as maker, so `maker` alone finds every leader order.
ROLE_POSITIONS = {"maker": MAKER_POSITION, "taker": TAKER_POSITION}


# Requests in flight by default: a budget of R requests/s kept busy by a provider answering
# in this long needs R x this many in flight (Little's law); real providers answer eth_getLogs
# in 100-500 ms. Never fewer than MIN_DEFAULT_IN_FLIGHT (the default rate needs fewer).
DESIGN_LATENCY_S = 0.3
MIN_DEFAULT_IN_FLIGHT = 4


def in_flight_for(rps: float) -> int:
    """The default POLYGON_RPC_MAX_CONCURRENCY for a rate: 4 at the default 5/s, 8 at 25/s."""
    needed = math.ceil(round(rps * DESIGN_LATENCY_S, 6))  # 20 x 0.3 is 6, not 6.000...1
    return min(MAX_CONCURRENCY, max(MIN_DEFAULT_IN_FLIGHT, needed))


class ConfigError(Exception):
    """Invalid or missing configuration; the message names the variable and the problem."""


def _check_scheme(value: SecretStr | None, schemes: tuple[str, ...]) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(
            f"must be a {' or '.join(s + '://' for s in schemes)} URL, got {redact_url(raw)!r}"
        )
    return SecretStr(raw)


def split_urls(value: str) -> list[str]:
    """A comma-separated list of URLs, blanks around each entry dropped."""
    return [part.strip() for part in value.split(",")]


def _check_list(value: SecretStr | None, schemes: tuple[str, ...]) -> SecretStr | None:
    """Every entry a URL of `schemes`, none empty, none twice (a provider listed twice would
    audit itself)."""
    if value is None:
        return None
    urls = split_urls(value.get_secret_value())
    for n, url in enumerate(urls, start=1):
        if not url:
            raise ValueError(f"entry {n} is empty")
        try:
            _check_scheme(SecretStr(url), schemes)
        except ValueError as exc:
            raise ValueError(f"entry {n} {exc}") from None
        if url in urls[: n - 1]:
            raise ValueError(f"entry {n} ({redact_url(url)!r}) repeats entry {urls.index(url) + 1}")
    return SecretStr(",".join(urls))


def _url_list(several: SecretStr | None, one: SecretStr | None) -> list[str]:
    if several is not None:
        return split_urls(several.get_secret_value())
    return [] if one is None else [one.get_secret_value()]


class Settings(BaseSettings):
    """The pipeline's configuration; names, defaults and bounds are in the README."""

    # allow_inf_nan=False: `inf` or `nan` is refused like any other bad number.
    model_config = SettingsConfigDict(
        env_prefix="POLYGON_", extra="ignore", frozen=True, allow_inf_nan=False
    )

    rpc_url: SecretStr | None = None
    ws_url: SecretStr | None = None
    # Several providers, comma-separated (docs/providers.md, "Several providers"); the
    # single-URL variables are a list of one.
    rpc_urls: SecretStr | None = None
    ws_urls: SecretStr | None = None
    provider_set_aside_s: float = Field(default=30.0, ge=1, le=3600)  # first set-aside
    provider_max_lag_blocks: int = Field(default=10, ge=1, le=100_000)
    audit_share: float = Field(default=1.0, ge=0, le=1)  # share of windows audited
    db_url: SecretStr | None = Field(default=None, validation_alias=DB_URL_VARIABLE)
    backfill_on_startup: bool = False
    backfill_startup_blocks: int = Field(default=50, ge=1)
    backfill_safety_overlap: int = Field(default=20, ge=0)
    backfill_max_range: int = Field(default=500, ge=1, le=100_000)
    confirmation_blocks: int = Field(default=32, ge=0)
    rpc_max_rps: float = Field(default=5.0, ge=MIN_RPS, le=MAX_RPS)
    # Unset: enough for the rate at a slow provider (rpc_in_flight).
    rpc_max_concurrency: int | None = Field(default=None, ge=1, le=MAX_CONCURRENCY)
    # How long after its send a request may reach the provider (one-way network time): a
    # request holds its window slot this much past its send, so less is more goodput.
    rpc_arrival_allowance_ms: int = Field(default=100, ge=0, le=1000)
    leader_batch_size: int = Field(default=100, ge=1, le=1000)
    # History fetched for a leader added without --history-from-block (about a day at 2 s
    # blocks); 0: none.
    leader_history_blocks: int = Field(default=43_200, ge=0)
    # Check every block holding a fetched fill against the node's header before it is
    # written (one call per such block): false trusts a log's blockTimestamp and leaves a
    # fabricated lone log to the next reconciliation (docs/providers.md).
    verify_block_hashes: bool = True
    follow_roles: str = "maker,taker"  # or "maker": every leader order, half the calls
    # Active block ranges of venues, overriding the registry's (the devnet sets its own).
    venue_blocks: str | None = None
    # The live watcher (polygon-pipeline watch)
    watch_silence_s: float = Field(default=20.0, ge=1, le=3600)  # no newHeads: unhealthy
    watch_health_host: str = "127.0.0.1"
    watch_health_port: int = Field(default=8787, ge=0, le=65535)  # 0: any free port
    watch_leaders_poll_s: float = Field(default=5.0, ge=0.1, le=3600)
    watch_reconnect_max_s: float = Field(default=30.0, ge=1, le=600)
    # Dagster: block windows (partitions of leader_fills) and automation
    partition_window_blocks: int = Field(default=10_000, ge=10, le=10_000_000)
    partitions_start_block: int | None = Field(default=None, ge=0)
    reconcile_cron: str = "*/5 * * * *"  # checked where the schedule is defined
    window_sensor_interval_s: int = Field(default=30, ge=5, le=86_400)
    windows_per_run: int = Field(default=50, ge=1, le=10_000)  # a backfill's windows per run
    # API mode: the Polymarket Data API poller
    data_api_url: SecretStr = SecretStr("https://data-api.polymarket.com")
    data_api_max_rps: float = Field(default=2.0, ge=MIN_RPS, le=MAX_RPS)
    data_api_poll_s: float = Field(default=2.0, ge=0.1, le=3600)
    data_api_page_size: int = Field(default=100, ge=1, le=500)
    # re-read this far back: late indexing
    data_api_overlap_s: float = Field(default=300.0, ge=0, le=86_400)
    # The API refuses an offset beyond 10,000; deeper pages go by time window (`end`).
    data_api_max_offset: int = Field(default=10_000, ge=0, le=10_000)
    # Markets: the Polymarket Gamma API (docs/markets.md), on a shared budget of its own
    gamma_api_url: SecretStr = SecretStr("https://gamma-api.polymarket.com")
    gamma_max_rps: float = Field(default=5.0, ge=MIN_RPS, le=MAX_RPS)
    # Polymarket's CLOB: a position's current price (`/midpoint`), on its own shared budget
    clob_api_url: SecretStr = SecretStr("https://clob.polymarket.com")
    clob_max_rps: float = Field(default=5.0, ge=MIN_RPS, le=MAX_RPS)
    # positions vs the Data API's /positions (sync/position_compare.py): avgPrice may differ
    # by this much (USD per token) before it counts as a difference; sizes must be exact
    positions_avg_price_tolerance: float = Field(default=0.01, ge=0, le=1)
    gamma_batch_size: int = Field(default=50, ge=1, le=50)  # token ids per request
    # Parquet exports, one file per block window (sync/exports.py)
    export_dir: Path = DEFAULT_DB_PATH.parent / "exports"

    @field_validator("rpc_url")
    @classmethod
    def _rpc_scheme(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_scheme(v, ("http", "https"))

    @field_validator("rpc_urls")
    @classmethod
    def _rpc_list(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_list(v, ("http", "https"))

    @field_validator("ws_urls")
    @classmethod
    def _ws_list(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_list(v, ("ws", "wss"))

    @model_validator(mode="after")
    def _one_list(self) -> Settings:
        for single, several in (("rpc_url", "rpc_urls"), ("ws_url", "ws_urls")):
            one, many = getattr(self, single), getattr(self, several)
            if (
                one is not None
                and many is not None
                and one.get_secret_value() not in split_urls(many.get_secret_value())
            ):
                raise ValueError(
                    f"POLYGON_{single.upper()} is not one of POLYGON_{several.upper()}: "
                    "set one of the two (a single URL is a list of one)"
                )
        return self

    @field_validator("data_api_url", "gamma_api_url", "clob_api_url")
    @classmethod
    def _api_scheme(cls, v: SecretStr) -> SecretStr:
        return _check_scheme(v, ("http", "https"))

    @field_validator("follow_roles")
    @classmethod
    def _follow_roles(cls, v: str) -> str:
        roles = [r.strip().lower() for r in v.split(",") if r.strip()]
        if set(roles) != {"maker"} and set(roles) != {"maker", "taker"}:
            raise ValueError(
                "must be maker,taker (every fill a leader is on either side of) or maker "
                "(every leader order, half the calls)"
            )
        return ",".join(sorted(set(roles)))

    @property
    def follow_positions(self) -> tuple[int, ...]:
        """The topic positions to query a leader at, maker first."""
        return tuple(ROLE_POSITIONS[r] for r in self.follow_roles.split(","))

    @field_validator("venue_blocks")
    @classmethod
    def _venue_blocks(cls, v: str | None) -> str | None:
        parse_venue_blocks(v)
        return v

    @property
    def venues(self) -> tuple[Venue, ...]:
        """The venue registry with this configuration's active blocks."""
        return with_blocks(parse_venue_blocks(self.venue_blocks))

    @field_validator("ws_url")
    @classmethod
    def _ws_scheme(cls, v: SecretStr | None) -> SecretStr | None:
        return _check_scheme(v, ("ws", "wss"))

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = v.get_secret_value().strip()
        try:
            backend = make_url(raw).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in DB_BACKENDS:
            raise ValueError(
                "must be a sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB URL, got "
                f"{redact_db_url(raw)!r}"
            )
        return SecretStr(raw)

    @property
    def rpc_in_flight(self) -> int:
        """The shared cap on requests in flight: POLYGON_RPC_MAX_CONCURRENCY, or by default
        enough for the rate (in_flight_for)."""
        return self.rpc_max_concurrency or in_flight_for(self.rpc_max_rps)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL; a SQLite file under .data/ when none is configured."""
        if self.db_url is not None:
            return self.db_url.get_secret_value()
        return f"sqlite:///{DEFAULT_DB_PATH}"

    @property
    def rpc_url_list(self) -> list[str]:
        """Every RPC provider, in the order given: POLYGON_RPC_URLS, else POLYGON_RPC_URL."""
        return _url_list(self.rpc_urls, self.rpc_url)

    @property
    def ws_url_list(self) -> list[str]:
        """Every WebSocket provider: POLYGON_WS_URLS, else POLYGON_WS_URL."""
        return _url_list(self.ws_urls, self.ws_url)

    def require_rpc_urls(self) -> list[str]:
        if not self.rpc_url_list:
            self.require_rpc_url()  # names the variable
        return self.rpc_url_list

    def require_ws_urls(self) -> list[str]:
        if not self.ws_url_list:
            self.require_ws_url()
        return self.ws_url_list

    def require_rpc_url(self) -> str:
        if self.rpc_url_list:
            return self.rpc_url_list[0]
        if self.rpc_url is None:
            raise ConfigError(
                "POLYGON_RPC_URL: not set (for the devnet: set -a; . .devnet/env; set +a)"
            )
        return self.rpc_url.get_secret_value()

    def require_ws_url(self) -> str:
        if self.ws_url_list:
            return self.ws_url_list[0]
        if self.ws_url is None:
            raise ConfigError(
                "POLYGON_WS_URL: not set (for the devnet: set -a; . .devnet/env; set +a)"
            )
        return self.ws_url.get_secret_value()

    def secret_values(self) -> list[str]:
        """Every text that must never be shown, for every scrubber (logs, errors, doctor):
        the provider URLs (RPC, WebSocket, Data API, Gamma, CLOB) and their key parts, the database
        password; longest first."""
        return secrets_of(
            [
                *self.rpc_url_list,
                *self.ws_url_list,
                *[u.get_secret_value() for u in self._provider_urls() if u],
            ],
            [self.database_url],
        )

    def _provider_urls(self) -> tuple[SecretStr | None, ...]:
        return (self.rpc_url, self.ws_url, self.data_api_url, self.gamma_api_url, self.clob_api_url)

    def describe(self) -> dict[str, object]:
        """A secret-free summary for logs, doctor and metadata."""
        return {
            "rpc_url": redact_url(self.rpc_url.get_secret_value()) if self.rpc_url else None,
            "ws_url": redact_url(self.ws_url.get_secret_value()) if self.ws_url else None,
            "db_url": redact_db_url(self.database_url),
            "rpc_urls": [redact_url(u) for u in self.rpc_url_list],
            "ws_urls": [redact_url(u) for u in self.ws_url_list],
            "data_api_url": redact_url(self.data_api_url.get_secret_value()),
            "gamma_api_url": redact_url(self.gamma_api_url.get_secret_value()),
            "clob_api_url": redact_url(self.clob_api_url.get_secret_value()),
            **self.model_dump(exclude=_SECRET_FIELDS),
            "rpc_max_concurrency": self.rpc_in_flight,
        }


# The settings that carry a secret (a provider's key, the database password), by field name.
SECRET_FIELDS = (
    "rpc_url",
    "ws_url",
    "rpc_urls",
    "ws_urls",
    "db_url",
    "data_api_url",
    "gamma_api_url",
    "clob_api_url",
)
_SECRET_FIELDS = {*SECRET_FIELDS, DB_URL_VARIABLE}


def variable_of(field: str) -> str:
    """The environment variable a setting is read from."""
    return Settings.model_fields[field].validation_alias or f"POLYGON_{field.upper()}"


def settings_of(values: Mapping[str, object]) -> Settings:
    """Settings from `values` (by field name) alone, every other setting at its default: the
    environment is not read again, so settings read once can be handed down as values."""
    given = {name: field.default for name, field in Settings.model_fields.items()} | dict(values)
    return Settings(**{Settings.model_fields[n].validation_alias or n: v for n, v in given.items()})


def _env_name(loc: tuple) -> str:
    field = str(loc[0]) if loc else "?"
    return field if field.startswith("POLYGON_") else f"POLYGON_{field.upper()}"


def load_settings() -> Settings:
    """Read and validate the environment; raise ConfigError with one line per problem."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = err.get("loc", ())
            msg = err["msg"].removeprefix("Value error, ")
            shown = (
                "" if (loc and str(loc[0]) in _SECRET_FIELDS) else f" (got {err.get('input')!r})"
            )
            if not loc:  # a rule across variables: the message names them
                lines.append(msg)
                continue
            lines.append(f"{_env_name(loc)}: {msg}{shown}")
        raise ConfigError("; ".join(lines)) from None
