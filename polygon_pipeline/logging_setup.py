"""Process-wide logging that cannot leak secrets: every record passes a scrubber that removes
the configured RPC/WS/DB URLs (libraries such as web3 log endpoints verbatim)."""

from __future__ import annotations

import logging

from polygon_pipeline.redact import scrub
from polygon_pipeline.settings import Settings


class SecretScrubber(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        record.msg, record.args = scrub(message, self.secrets), ()
        return True


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    secrets = [
        s.get_secret_value()
        for s in (settings.rpc_url, settings.ws_url, settings.db_url)
        if s is not None
    ]
    handler = logging.StreamHandler()
    handler.addFilter(SecretScrubber(secrets))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    if level > logging.DEBUG:  # chatty libraries: their warnings only
        for noisy in ("alembic", "web3", "dagster"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
