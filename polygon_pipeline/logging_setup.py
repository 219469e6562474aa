"""Process-wide logging that cannot leak secrets. Every log record the process creates, by any
logger, is scrubbed when it is made (a log record factory), so no handler sees a secret:
ours, Dagster's (run storage, compute logs) or a test's. Libraries such as web3 and requests
log endpoints verbatim, and providers echo keys in their answers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from polygon_pipeline.env_secrets import environment_secrets
from polygon_pipeline.redact import scrub

if TYPE_CHECKING:
    from polygon_pipeline.settings import Settings

_SECRETS: set[str] = set()
_BASE_FACTORY = logging.getLogRecordFactory()


def _scrubbed_record(*args, **kwargs) -> logging.LogRecord:
    record = _BASE_FACTORY(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # bad format arguments: logging would print them raw
        message = f"{record.msg} {record.args}"
    if record.exc_info:
        message += "\n" + logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
    record.msg, record.args = scrub(message, _SECRETS), ()
    return record


def protect_secrets(secrets: Iterable[str]) -> None:
    """Scrub `secrets` from every log record this process makes from now on (secrets
    accumulate: a process serving several configurations keeps all of them out)."""
    _SECRETS.update(s for s in secrets if s)
    logging.setLogRecordFactory(_scrubbed_record)


def configure_logging(settings: Settings | None = None, level: int = logging.WARNING) -> None:
    """The command line's logging: records scrubbed of the settings' secrets (of the
    environment's when none are given) to stderr, at `level`."""
    protect_secrets(settings.secret_values() if settings else environment_secrets())
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    if level > logging.DEBUG:  # chatty libraries: their warnings only
        for noisy in ("alembic", "web3", "dagster"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
