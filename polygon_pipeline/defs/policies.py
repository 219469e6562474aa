"""Dagster policy in one place: pools, run tags (dagster.yaml limits runs by them), retry
policies, when derived assets refresh, and which failures are not retried. A feature's
definitions take these from here, never from each other."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from dagster import (
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    Backoff,
    Failure,
    Jitter,
    RetryPolicy,
    asset,
)

from polygon_pipeline.provider_errors import Permanent
from polygon_pipeline.settings import ConfigError

GROUP = "polygon"

# Steps that call the provider share a pool (dagster.yaml: two at a time), whoever launched
# them; the mini-reconciliation has its own, so it never waits for a slot a backfill holds.
RPC_POOL = "polygon_rpc"
RECENT_POOL = "polygon_rpc_recent"

# Runs with these tags are limited by dagster.yaml's tag_concurrency_limits, each kind on its
# own: window runs launched by the sensor (two at once), leader histories (two at once), the
# mini-reconciliation (one). Backfill runs are limited by their `dagster/backfill` tag.
RPC_TAG = "polygon_pipeline/rpc"
WINDOW_TAGS = {RPC_TAG: "windows"}
HISTORY_TAGS = {RPC_TAG: "history"}
# The mini-reconciliation also goes ahead of any queued run (higher priority first).
RECENT_TAGS = {RPC_TAG: "recent", "dagster/priority": "10"}
RETRY_NUMBER_TAG = "dagster/retry_number"  # set on a run that Dagster's run retries launched

# Transient trouble (a provider outage longer than the client's own retries, a database that
# went away) is retried by Dagster after a jittered, growing delay; what retrying cannot fix
# (a rejected key, a window not final yet, a malformed key) fails at once
# (Failure(allow_retries=False), see refusals_not_retried).
RECONCILE_RETRY = RetryPolicy(
    max_retries=3, delay=30, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

# Derived assets are refreshed on a clock rather than after every window: a backfill of a
# thousand windows would otherwise recompute them a thousand times.
REFRESH = AutomationCondition.cron_tick_passed("*/15 * * * *") & ~AutomationCondition.in_progress()


def derived_asset(
    deps: Sequence[AssetKey | AssetsDefinition], kinds: set[str], description: str
) -> Callable[[Callable[..., object]], AssetsDefinition]:
    """The decorator of an asset computed from what is stored (a report, a lookup, a view),
    downstream of `deps`: in the pipeline's group, refreshed on REFRESH's clock."""
    return asset(
        deps=deps,
        automation_condition=REFRESH,
        group_name=GROUP,
        kinds=kinds,
        description=description,
    )


@contextmanager
def refusals_not_retried() -> Iterator[None]:
    """Around a step's use of the provider: what retrying cannot fix fails the step once,
    without Dagster's retries, which would only repeat it for minutes. That is a provider's
    refusal (a rejected key: HTTP 401/403, JSON-RPC -32000 and the like, i.e.
    provider_errors.Permanent) and a setting that is wrong (ConfigError: no RPC URL, another
    chain). The message (already scrubbed of keys) is the failure's."""
    try:
        yield
    except Permanent as exc:
        raise Failure(f"the provider refused: {exc} (not retried)", allow_retries=False) from exc
    except ConfigError as exc:
        raise Failure(f"{exc} (not retried: fix the setting)", allow_retries=False) from exc
