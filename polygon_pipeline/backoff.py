"""The project's own waits: one back-off formula (the shared throttle pause, the watcher's
reconnects, transient retries) and one sleep that a stopping process cuts short.

A provider's Retry-After can hold a request for minutes (capped at 300 s), on a worker thread
the main thread waits for: a plain `time.sleep` there made a SIGTERM or Ctrl-C wait the pause
out. Every back-off sleep goes through `sleep`, which `stop_waiting` ends at once."""

from __future__ import annotations

import random
import threading

_stopping = threading.Event()


class Interrupted(Exception):
    """A back-off wait cut short because the process is stopping."""


def full_jitter(first_s: float, cap_s: float, attempt: int) -> float:
    """A random wait up to `first_s` doubled per attempt after the first, never above `cap_s`
    (as tenacity's `wait_random_exponential`, for loops that keep their own attempt count)."""
    ceiling = min(cap_s, first_s * 2 ** min(attempt - 1, 32))
    return random.uniform(0, ceiling)


def sleep(seconds: float) -> None:
    """Wait `seconds`, or raise Interrupted as soon as the process is stopping."""
    if _stopping.wait(max(0.0, seconds)):
        raise Interrupted("stopping: a back-off wait was cut short")


def stop_waiting() -> None:
    """End every back-off sleep of this process, now and later (the process is stopping)."""
    _stopping.set()
