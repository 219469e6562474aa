"""The secrets among the environment's settings, found without validating them: the
scrubber is set up before every command, `--help` included, and must neither wait for
pydantic to import nor miss a good secret beside a bad setting."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from polygon_pipeline.redact import db_url_secrets, url_secrets

PROVIDER_URL_VARIABLES = (
    "POLYGON_RPC_URL",
    "POLYGON_WS_URL",
    "POLYGON_RPC_URLS",
    "POLYGON_WS_URLS",
    "POLYGON_DATA_API_URL",
)
DB_URL_VARIABLE = "POLYGON_PIPELINE_DB_URL"


def secrets_of(provider_urls: Iterable[str], db_urls: Iterable[str]) -> list[str]:
    """What of these URLs must never be shown (their keys, the database password), longest
    first."""
    found: set[str] = set()
    for url in provider_urls:
        found |= url_secrets(url)
    for url in db_urls:
        found |= db_url_secrets(url)
    return sorted(found, key=len, reverse=True)


def environment_secrets(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The secrets of the URL variables as Settings reads them (names in any case, values
    stripped), whether or not they validate."""

    def values(*names: str) -> list[str]:
        # a list variable (POLYGON_RPC_URLS) holds comma-separated URLs: each has its keys
        return [
            part.strip()
            for name, value in environ.items()
            if name.upper() in names
            for part in (value.split(",") if name.upper().endswith("_URLS") else [value])
        ]

    return secrets_of(values(*PROVIDER_URL_VARIABLES), values(DB_URL_VARIABLE))
