"""Governed HTTP: what every provider client of the project shares (the JSON-RPC client and
the Polymarket Data API client). Each request takes a permit from a shared limiter (rate and
concurrency across processes); throttling pauses every process with a shared, jittered
back-off that honours Retry-After; transient failures are retried a bounded number of times
(tenacity); URLs and keys never reach an error message, even when the provider echoes them."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from polygon_pipeline.provider_errors import Throttled, Transient
from polygon_pipeline.redact import redact_url, scrub

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
TRANSIENT_ATTEMPTS = 6
THROTTLE_GIVE_UP_S = 900.0  # keep backing off this long before failing loudly
_SLOT_POLL_S = 0.01  # first wait for a free slot; doubles (with jitter) up to the cap
_SLOT_POLL_CAP_S = 0.08


class Permit(Protocol):
    send_at: float


class Limiter(Protocol):
    """What a client needs from the shared budget (implemented in store/limiter.py)."""

    def try_acquire(self) -> Permit | None: ...  # a permit to send now; None: slots busy
    def release(self, permit: Permit, succeeded: bool, sent_at: float | None = None) -> None: ...
    def throttled(self, retry_after: float | None) -> float: ...


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(tz=UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


class GovernedHttp:
    """Subclasses send their requests through `governed()` and `http()`, and put provider
    text into messages through `quote()`. Counters here are telemetry for progress bars and
    run metadata; claimed figures come from the devnet."""

    def __init__(
        self,
        url: str,
        limiter: Limiter,
        *,
        secrets: Iterable[str] = (),
        timeout: float = READ_TIMEOUT_S,
        transient_attempts: int = TRANSIENT_ATTEMPTS,
    ):
        self._url = url
        self._secrets = [url, *secrets]  # Settings.secret_values(): the other URLs' keys too
        self.shown_url = redact_url(url)
        self.limiter = limiter
        self.timeout = (CONNECT_TIMEOUT_S, timeout)
        self.transient_attempts = transient_attempts
        # Requests go out from several threads at once (reconcile keeps requests in flight):
        # each thread has its own HTTP session, and the counters are updated under a lock.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttles = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown_url})"

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _thread_session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._lock:
                self._sessions.append(session)
        return session

    def quote(self, text: str, limit: int = 300) -> str:
        """Provider text fit for a message: scrubbed of every secret, then cut (cutting first
        could leave part of a key that no scrubber recognises)."""
        return scrub(text, self._secrets)[:limit]

    def governed(self, label: str, send: Callable[[], Any], parse: Callable | None = None) -> Any:
        """Run `send` under a permit, retried on throttling and transient failures. `parse`
        turns the answer into what the caller needs; if it raises ValueError (and kin) the
        answer counts as garbage from the provider, and the request is retried (bounded)."""
        retrying = Retrying(
            retry=retry_if_exception_type((Throttled, Transient)),
            wait=self._wait,
            stop=self._stop,
            reraise=True,
        )
        return retrying(self._attempt, label, send, parse)

    def http(self, label: str, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP exchange, with throttling and server trouble turned into errors."""
        with self._lock:
            self.calls[label] += 1
        try:
            resp = self._thread_session().request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise Transient(f"{label}: timed out after {self.timeout[1]:.0f}s") from None
        except requests.RequestException as exc:
            raise Transient(f"{label}: {self.quote(f'{type(exc).__name__}: {exc}')}") from None
        if resp.status_code == 429:
            raise Throttled(
                f"{label}: HTTP 429", parse_retry_after(resp.headers.get("Retry-After"))
            )
        if resp.status_code >= 500:
            raise Transient(f"{label}: HTTP {resp.status_code}")
        return resp

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Throttled):
            with self._lock:
                self.throttles += 1
            delay = self.limiter.throttled(exc.retry_after)
            log.warning(
                "%s throttled by %s; everyone waits %.2fs", state.args[0], self.shown_url, delay
            )
            return delay
        delay = wait_random_exponential(multiplier=0.25, max=10)(state)
        log.warning(
            "%s failed (%s); retry %d in %.2fs", state.args[0], exc, state.attempt_number, delay
        )
        return delay

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Throttled):
            return (state.seconds_since_start or 0.0) > THROTTLE_GIVE_UP_S
        return state.attempt_number >= self.transient_attempts

    def _attempt(self, label: str, send: Callable[[], Any], parse: Callable | None) -> Any:
        permit = self._take_permit()
        succeeded = False
        sent_at = time.time()  # after any delay of this process's own since the grant
        try:
            result = send()
            succeeded = True
        finally:
            self.limiter.release(permit, succeeded, sent_at)
        if parse is None:
            return result
        try:
            return parse(result)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise Transient(f"{label}: malformed result: {self.quote(str(exc), 200)}") from None

    def _take_permit(self) -> Permit:
        """A permit to send now (the limiter waits for the rate and any pause)."""
        poll = _SLOT_POLL_S
        while (permit := self.limiter.try_acquire()) is None:
            # every slot busy: ask again, less often the longer it lasts
            time.sleep(random.uniform(poll / 2, poll))
            poll = min(_SLOT_POLL_CAP_S, poll * 2)
        return permit
