"""Governed HTTP: what every provider client of the project shares (the JSON-RPC client and
the Polymarket Data API client). Each request takes a permit from a shared limiter (rate and
concurrency across processes); throttling pauses every process with a shared, jittered
back-off that honours Retry-After; transient failures are retried a bounded number of times
(tenacity), counted apart from throttles; URLs and keys never reach an error message, even
when the provider echoes them."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.stop import stop_base

from polygon_pipeline import backoff
from polygon_pipeline.provider_errors import Throttled, Transient
from polygon_pipeline.redact import redact_url, scrub

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
TRANSIENT_ATTEMPTS = 6  # failures (5xx, timeouts, garbage) of one call; throttles not counted
THROTTLE_GIVE_UP_S = 900.0  # keep backing off this long before failing loudly
TRANSIENT_FIRST_WAIT_S = 0.25
TRANSIENT_WAIT_CAP_S = 10.0
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


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


class stop_after_transient_failures(stop_base):  # noqa: N801 - tenacity's naming
    """Stop once a call has failed `attempts` times for a transient reason. Throttles are not
    failures: they are the provider pacing us, and have their own budget (time, below); a
    count of attempts made five 429s and one 502 fail a call. One instance per call."""

    def __init__(self, attempts: int):
        self.attempts = attempts
        self._failures = 0
        self._counted = 0  # attempts looked at

    def failures(self, retry_state: RetryCallState) -> int:
        """Transient failures of the call up to its latest attempt (each attempt counted once,
        whoever asks first: the wait or the stop)."""
        if self._counted < retry_state.attempt_number:
            self._counted = retry_state.attempt_number
            self._failures += isinstance(_failure(retry_state), Transient)
        return self._failures

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.failures(retry_state) >= self.attempts


class stop_throttled_for(stop_base):  # noqa: N801 - tenacity's naming
    """Stop on a throttle once the call has been backing off for `seconds`: a provider that
    never lets us through fails loudly instead of hanging."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        throttled = isinstance(_failure(retry_state), Throttled)
        return throttled and (retry_state.seconds_since_start or 0.0) > self.seconds


def _give_up(retry_state: RetryCallState, transient: stop_after_transient_failures) -> None:
    """The last error, saying which budget is spent."""
    exc = _failure(retry_state)
    if isinstance(exc, Throttled):
        spent = retry_state.seconds_since_start or 0.0
        raise Throttled(f"{exc} (still throttled after {spent:.0f}s; giving up)", exc.retry_after)
    failures = transient.failures(retry_state)
    kind = type(exc) if isinstance(exc, Transient) else Transient  # a ForeignAnswer stays one
    raise kind(f"{exc} ({failures} transient failures in this call; giving up)")


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
        throttle_give_up_s: float = THROTTLE_GIVE_UP_S,
    ):
        self._url = url
        self._secrets = [url, *secrets]  # Settings.secret_values(): the other URLs' keys too
        self.shown_url = redact_url(url)
        self.limiter = limiter
        self.timeout = (CONNECT_TIMEOUT_S, timeout)
        self.transient_attempts = transient_attempts
        # 0: a throttle is raised at once (a pool of providers turns to another one)
        self.throttle_give_up_s = throttle_give_up_s
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
        transient = stop_after_transient_failures(self.transient_attempts)
        retrying = Retrying(
            retry=retry_if_exception_type((Throttled, Transient)),
            wait=lambda state: self._wait(state, transient),
            stop=transient | stop_throttled_for(self.throttle_give_up_s),
            sleep=backoff.sleep,  # cut short when the process is stopping
            retry_error_callback=lambda state: _give_up(state, transient),
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

    def _wait(self, state: RetryCallState, transient: stop_after_transient_failures) -> float:
        exc = _failure(state)
        if isinstance(exc, Throttled):
            with self._lock:
                self.throttles += 1
            delay = self.limiter.throttled(exc.retry_after)
            log.warning(
                "%s throttled by %s; everyone waits %.2fs", state.args[0], self.shown_url, delay
            )
            return delay
        failure = transient.failures(state)
        delay = backoff.full_jitter(TRANSIENT_FIRST_WAIT_S, TRANSIENT_WAIT_CAP_S, failure)
        log.warning("%s failed (%s); retry %d in %.2fs", state.args[0], exc, failure, delay)
        return delay

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
            backoff.sleep(random.uniform(poll / 2, poll))
            poll = min(_SLOT_POLL_CAP_S, poll * 2)
        return permit
