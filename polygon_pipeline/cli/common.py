"""What every subcommand shares: settings and the store, with config errors as one line.

Like every module of the command line, it imports only click and light modules at the top:
settings (pydantic), the store (SQLAlchemy) and the use cases are imported by the function
that needs them, so `--help` and the everyday commands start at once (test_cli_start)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import click

from polygon_pipeline import backoff
from polygon_pipeline.env_secrets import environment_secrets
from polygon_pipeline.provider_errors import ProviderError
from polygon_pipeline.quoting import MESSAGE_CHARS, cut
from polygon_pipeline.redact import scrub

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from polygon_pipeline.settings import Settings
    from polygon_pipeline.sync.context import SyncContext

# Block numbers as options take: what a store column (BIGINT; SQLite's INTEGER) holds. A larger
# one used to reach SQLite's driver and fail there with an OverflowError traceback.
MAX_BLOCK = 2**63 - 1
BLOCK_NUMBER = click.IntRange(0, MAX_BLOCK)


def fail(exc: BaseException | str) -> click.ClickException:
    """`Error: <message>` and exit status 1, the message scrubbed of every secret, then cut
    to a bounded length (cutting first could leave part of a key no scrubber recognises)."""
    return click.ClickException(cut(scrub(str(exc), environment_secrets()), MESSAGE_CHARS))


def settings_or_exit() -> Settings:
    from polygon_pipeline.settings import ConfigError, load_settings

    try:
        return load_settings()
    except ConfigError as exc:
        raise fail(f"config error: {exc}") from None


def sync_context(settings: Settings) -> SyncContext:
    """The use cases' context (database, governed RPC), or a one-line error."""
    from polygon_pipeline.settings import ConfigError
    from polygon_pipeline.sync.context import SyncContext

    try:
        return SyncContext.from_settings(settings)
    except (ConfigError, ProviderError) as exc:
        raise fail(exc) from None


def store_engine(settings: Settings) -> Engine:
    from polygon_pipeline.store.engine import make_engine

    return make_engine(settings.database_url)


def sqlalchemy_error(exc: BaseException, kind: str = "SQLAlchemyError") -> bool:
    """Whether `exc` is SQLAlchemy's exception `kind`, without importing SQLAlchemy: only a
    command that imported it can raise one."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, getattr(errors, kind))


def database_too_new(exc: BaseException) -> bool:
    """Whether `exc` says a newer release wrote the database, without importing the store:
    only a command that opened it can raise that."""
    migrate = sys.modules.get("polygon_pipeline.store.migrate")
    return migrate is not None and isinstance(exc, migrate.DatabaseTooNew)


def environment_failure(exc: BaseException) -> bool:
    """A database or operating-system failure: reported as one line (environment_error)."""
    return isinstance(exc, OSError) or sqlalchemy_error(exc)


def environment_error(exc: Exception) -> str:
    """One line for a database or operating-system failure: the driver's or the system's own
    words (without SQLAlchemy's statement dump), secrets scrubbed."""
    if sqlalchemy_error(exc, "DBAPIError") and exc.orig is not None:
        text = f"database error: {exc.orig}"
    elif isinstance(exc, OSError):
        text = str(exc)
    else:
        text = f"database error: {exc}"
    words = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return cut(scrub(words, environment_secrets()), MESSAGE_CHARS)


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


class _Stopped(BaseException):
    """Raised in the main thread by a stop signal; a BaseException so that no `except
    Exception` on the way out swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum: int, _frame: object) -> None:
    backoff.stop_waiting()  # worker threads in a back-off (a Retry-After) stop at once
    raise _Stopped(signum)


@contextlib.contextmanager
def stop_on_signals(what_is_kept: str, daemon: bool = False) -> Iterator[None]:
    """SIGTERM and Ctrl-C stop a command at once, however long a provider asked us to wait
    (or a back-off holds it): one line saying so. A one-shot command exits with 128 + the
    signal (the shell's convention: 143, 130), since its work is not done; a `daemon` has
    no end of its own, so a stop is its normal end: status 0. What was committed stays;
    transactions in progress roll back."""
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    except _Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        click.echo(f"stopped by {name}: {what_is_kept}", err=True)
        if not daemon:
            raise click.exceptions.Exit(128 + stopped.signum) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
