"""What every subcommand shares: settings and the store, with config errors as one line."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.redact import scrub
from polygon_pipeline.settings import ConfigError, Settings, environment_secrets, load_settings
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.sync.context import SyncContext


def fail(exc: BaseException) -> click.ClickException:
    """`Error: <message>` and exit status 1, the message scrubbed of every secret."""
    return click.ClickException(scrub(str(exc), environment_secrets()))


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from None


def sync_context(settings: Settings) -> SyncContext:
    """The use cases' context (database, governed RPC), or a one-line error."""
    try:
        return SyncContext.from_settings(settings)
    except (ConfigError, ProviderError) as exc:
        raise fail(exc) from None


def store_engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def environment_error(exc: Exception) -> str:
    """One line for a database or operating-system failure: the driver's or the system's own
    words (without SQLAlchemy's statement dump), secrets scrubbed."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"database error: {exc.orig}"
    elif isinstance(exc, OSError):
        text = str(exc)
    else:
        text = f"database error: {exc}"
    words = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return scrub(words, environment_secrets())[:500]


@contextlib.contextmanager
def one_line(*kinds: type[Exception]) -> Iterator[None]:
    """Turn the given exceptions into `Error: <message>` and exit status 1, no traceback.
    A context manager, or a decorator of a whole command."""
    try:
        yield
    except kinds as exc:
        raise fail(exc) from None


class BlockProgress(Protocol):
    blocks_total: int
    blocks_done: int
    fills_found: int
    getlogs_calls: int
    throttles: int


@contextlib.contextmanager
def block_progress(label: str) -> Iterator[Callable[[BlockProgress], None]]:
    """A progress bar over blocks; yields the `on_progress` callback of a use case."""
    with click.progressbar(length=1, label=label, show_pos=True, item_show_func=_describe) as bar:

        def update(report: BlockProgress) -> None:
            bar.length = max(report.blocks_total, 1)
            bar.update(report.blocks_done - bar.pos, report)

        yield update


def _describe(report: BlockProgress | None) -> str:
    if report is None:
        return ""
    return f"fills {report.fills_found}, calls {report.getlogs_calls}, 429s {report.throttles}"
