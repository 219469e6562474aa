"""Several RPC providers behind one governed client: failover without a gap.

Each provider is a `GovernedRpc` on its own shared budget (store/limiter.py, one budget row
per provider). A call goes to the healthiest provider: not set aside, not paused by a
throttle (its budget's shared pause), fewest failures in a row, then the order the user
listed them in (so one provider fills while the others stand by and audit). A provider whose
call fails (down, garbage, a foreign answer) or whose head lags the others' by more than
POLYGON_PROVIDER_MAX_LAG_BLOCKS is set aside (POLYGON_PROVIDER_SET_ASIDE_S, doubling per
failure in a row, at most SET_ASIDE_CAP_S) and tried again once that runs out; a throttle
pauses that provider's budget for every process and the call goes to another one. The same
call is retried elsewhere, never skipped: a chunk is only ever written from an answer.

With one provider the pool hands every call to it unchanged (its own retry budgets)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from polygon_pipeline import backoff
from polygon_pipeline.chain.rpc_client import GovernedRpc, RpcMethods, _quantity
from polygon_pipeline.governed_http import (
    THROTTLE_GIVE_UP_S,
    TRANSIENT_ATTEMPTS,
    TRANSIENT_FIRST_WAIT_S,
    TRANSIENT_WAIT_CAP_S,
)
from polygon_pipeline.provider_errors import Throttled, Transient

log = logging.getLogger(__name__)

SET_ASIDE_CAP_S = 600.0
PAUSE_READ_EVERY_S = 0.2  # a provider's shared pause is read from the store this often


def _asks_head(method: str, params: list) -> bool:
    """A head query (the latest number, a block by tag): asked of every provider in
    service, so a lagging one is noticed."""
    if method == "eth_blockNumber":
        return True
    tag = params[0] if method == "eth_getBlockByNumber" and params else None
    return isinstance(tag, str) and not tag.startswith("0x")


@dataclass
class Provider:
    label: str  # redact.provider_labels: never the URL
    rpc: GovernedRpc
    set_aside_until: float = 0.0
    failures: int = 0  # calls failed in a row
    set_asides: int = 0
    head: int | None = None
    why: str = ""
    _paused_until: float = 0.0
    _paused_read_at: float = -PAUSE_READ_EVERY_S

    def paused_for(self, now: float) -> float:
        """Seconds its budget is still paused by a throttle (shared by every process; read
        from the store at most every PAUSE_READ_EVERY_S)."""
        if now - self._paused_read_at >= PAUSE_READ_EVERY_S:
            self._paused_until = self.rpc.limiter.cooldown_until()
            self._paused_read_at = now
        return self._paused_until - now

    def throttled(self, retry_after: float | None) -> float:
        """Pause its budget for every process (the limiter's back-off); the seconds."""
        delay = self.rpc.limiter.throttled(retry_after)
        self._paused_until, self._paused_read_at = time.time() + delay, time.time()
        return delay

    def describe(self, now: float) -> str:
        aside = self.set_aside_until - now
        state = f"set aside {aside:.0f}s more ({self.why})" if aside > 0 else "in service"
        return f"{self.label}: {state}, head {self.head}, {sum(self.rpc.calls.values())} calls"


class RpcPool(RpcMethods):
    """The RPC client every use case holds (SyncContext.rpc), over one or more providers."""

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        set_aside_s: float = 30.0,
        max_lag_blocks: int = 10,
        transient_attempts: int = TRANSIENT_ATTEMPTS,
        throttle_give_up_s: float = THROTTLE_GIVE_UP_S,
    ):
        if not providers:
            raise ValueError("no provider")
        self.providers = list(providers)
        self.set_aside_s = set_aside_s
        self.max_lag_blocks = max_lag_blocks
        self.transient_attempts = transient_attempts
        self.throttle_give_up_s = throttle_give_up_s
        self._lock = threading.Lock()
        self._local = threading.local()
        self._throttles = 0

    # ---- what callers of the one-provider client read --------------------------------------
    @property
    def limiter(self):
        return self.providers[0].rpc.limiter

    @property
    def shown_url(self) -> str:
        return ", ".join(p.rpc.shown_url for p in self.providers)

    @property
    def calls(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.providers:
            total.update(p.rpc.calls)
        return total

    @property
    def throttles(self) -> int:
        return self._throttles + sum(p.rpc.throttles for p in self.providers)

    def quote(self, text: str, limit: int = 300) -> str:
        return self.providers[0].rpc.quote(text, limit)

    def close(self) -> None:
        for p in self.providers:
            p.rpc.close()
            p.rpc.limiter.engine.dispose()

    def labels(self) -> list[str]:
        return [p.label for p in self.providers]

    def pinned(
        self,
        label: str,
        transient_attempts: int | None = None,
        throttle_give_up_s: float | None = None,
    ) -> RpcPool:
        """A pool of this one provider (the audit reads from a chosen one), with the failure
        and throttle budgets of a pool (or those given): it fails loudly instead of turning
        elsewhere. Its health (set aside, failures, pause) is the same object as here."""
        (provider,) = [p for p in self.providers if p.label == label]
        return RpcPool(
            [provider],
            set_aside_s=self.set_aside_s,
            max_lag_blocks=self.max_lag_blocks,
            transient_attempts=transient_attempts or self.transient_attempts,
            throttle_give_up_s=(
                self.throttle_give_up_s if throttle_give_up_s is None else throttle_give_up_s
            ),
        )

    def health(self) -> dict[str, dict]:
        """Each provider's figures for /metrics, by label."""
        now = time.time()
        return {
            p.label: {
                "in_service": int(p.set_aside_until <= now),
                "calls": sum(p.rpc.calls.values()),
                "set_asides": p.set_asides,
                "head": p.head,
            }
            for p in self.providers
        }

    def describe(self) -> list[str]:
        now = time.time()
        return [p.describe(now) for p in self.providers]

    # ---- which providers answered ---------------------------------------------------------
    @contextmanager
    def answering(self) -> Iterator[set[str]]:
        """The labels of the providers that answer this thread's calls inside the block."""
        outer = getattr(self._local, "who", None)
        self._local.who = who = set()
        try:
            yield who
        finally:
            self._local.who = outer
            if outer is not None:
                outer |= who

    def _answered(self, provider: Provider) -> None:
        who = getattr(self._local, "who", None)
        if who is not None:
            who.add(provider.label)

    # ---- the call -------------------------------------------------------------------------
    def call(self, method: str, params: list, parse: Callable[[Any], Any] | None = None) -> Any:
        if len(self.providers) == 1 and self.providers[0].rpc.throttle_give_up_s > 0:
            result = self.providers[0].rpc.call(method, params, parse)  # the one-provider path
            self._answered(self.providers[0])
            return result
        if _asks_head(method, params):
            return self._head_call(method, params, parse)
        return self._failover(method, params, parse)

    def _failover(self, method: str, params: list, parse: Callable | None) -> Any:
        began, failures = time.monotonic(), 0
        previous: Provider | None = None
        while True:
            provider = self._choose()
            if previous is not None and provider is not previous:
                log.warning("%s: turning from %s to %s", method, previous.label, provider.label)
            previous = provider
            try:
                result = provider.rpc.call(method, params, parse)
            except Throttled as exc:
                with self._lock:
                    self._throttles += 1
                delay = provider.throttled(exc.retry_after)
                log.warning(
                    "%s throttled by %s; its budget waits %.2fs", method, provider.label, delay
                )
                if time.monotonic() - began >= self.throttle_give_up_s:
                    raise
                continue
            except Transient as exc:
                self._set_aside(provider, exc)
                failures += 1
                if failures >= self.transient_attempts:
                    raise type(exc)(
                        f"{exc}; {failures} calls failed across {len(self.providers)} provider(s)"
                    ) from None
                if not self._someone_in_service():
                    backoff.sleep(
                        backoff.full_jitter(TRANSIENT_FIRST_WAIT_S, TRANSIENT_WAIT_CAP_S, failures)
                    )
                continue
            self._served(provider)
            return result

    def _head_call(self, method: str, params: list, parse: Callable | None) -> Any:
        """A head (a block tag) from every provider in service; one behind the best by more
        than max_lag_blocks is set aside. The best answer is returned."""
        answers: list[tuple[int, Any, Provider]] = []
        unknown = False  # a node without the tag answers null: not a failure
        now = time.time()
        ready = [p for p in self.providers if self._in_service(p) and p.paused_for(now) <= 0]
        for provider in ready or [self._choose()]:
            try:
                raw = provider.rpc.call(method, params)
                if raw is None:
                    unknown = True
                    continue
                number = _quantity(raw if method == "eth_blockNumber" else raw["number"])
            except (Transient, Throttled, TypeError, KeyError, ValueError) as exc:
                if isinstance(exc, Throttled):
                    provider.throttled(exc.retry_after)
                else:
                    self._set_aside(provider, exc)
                continue
            provider.head = number
            answers.append((number, raw, provider))
        if not answers:
            if unknown:
                return None
            return self._failover(method, params, parse)  # its retries and its error
        best, raw, provider = max(answers, key=lambda a: a[0])
        for number, _, lagging in answers:
            if best - number > self.max_lag_blocks:
                self._set_aside(lagging, f"head {number}, {best - number} blocks behind {best}")
        self._served(provider)
        return raw if parse is None else parse(raw)  # parsed once above: cannot fail here

    # ---- health ---------------------------------------------------------------------------
    def _in_service(self, provider: Provider) -> bool:
        return provider.set_aside_until <= time.time()

    def _someone_in_service(self) -> bool:
        return any(self._in_service(p) for p in self.providers)

    def _choose(self) -> Provider:
        """In service first, then not paused by a throttle, fewest failures in a row, the
        order given; when every one is set aside, the one whose set-aside ends first."""
        now = time.time()

        def rank(item: tuple[int, Provider]) -> tuple:
            index, p = item
            aside = max(0.0, p.set_aside_until - now)
            paused = p.paused_for(now) > 0 if aside == 0 else True
            return (aside > 0, aside, paused, p.failures, index)

        return min(enumerate(self.providers), key=rank)[1]

    def _set_aside(self, provider: Provider, why: object) -> None:
        with self._lock:
            provider.failures += 1
            provider.set_asides += 1
            span = min(SET_ASIDE_CAP_S, self.set_aside_s * 2 ** (provider.failures - 1))
            provider.set_aside_until = time.time() + span
            provider.why = str(why)[:200]
        if len(self.providers) > 1:
            log.warning("provider %s set aside for %.0fs: %s", provider.label, span, provider.why)

    def _served(self, provider: Provider) -> None:
        self._answered(provider)
        if provider.failures:
            with self._lock:
                provider.failures = 0
                provider.set_aside_until = 0.0
