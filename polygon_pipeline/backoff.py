"""The one back-off formula of the project's own waits (the shared throttle pause, the
watcher's reconnects): full jitter, as in tenacity's `wait_random_exponential`, for loops
that keep their own attempt count."""

from __future__ import annotations

import random


def full_jitter(first_s: float, cap_s: float, attempt: int) -> float:
    """A random wait up to `first_s` doubled per attempt after the first, never above `cap_s`."""
    ceiling = min(cap_s, first_s * 2 ** min(attempt - 1, 32))
    return random.uniform(0, ceiling)
