"""What every subcommand shares: settings and the store, with config errors as one line."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from sqlalchemy import Engine

from polygon_pipeline.settings import ConfigError, Settings, load_settings
from polygon_pipeline.store.engine import make_engine


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"config error: {exc}") from None


def store_engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url)


def one_line_errors(*kinds: type[Exception]) -> Callable:
    """Turn the given exceptions into `Error: <message>` and exit status 1, no traceback."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except kinds as exc:
                raise click.ClickException(str(exc)) from None

        return inner

    return wrap
