"""The governed RPC client: the only way any code of this project reaches the provider.

Every call takes a permit from the shared limiter (rate and concurrency across processes),
is retried with tenacity on throttling (shared back-off, Retry-After honoured) and on
transient failures (bounded), and is parsed from raw JSON: bulk `eth_getLogs` results stay
plain dicts for the fast decoder instead of going through web3's result formatting.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_random_exponential,
)

from polygon_pipeline.chain.rpc_errors import (
    RpcError,
    RpcPermanent,
    RpcThrottled,
    RpcTransient,
    classify_rpc_error,
    parse_retry_after,
)
from polygon_pipeline.redact import redact_url, scrub

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
TRANSIENT_ATTEMPTS = 6
THROTTLE_GIVE_UP_S = 900.0  # keep backing off this long before failing loudly
_SLOT_POLL_S = 0.01


class Permit(Protocol):
    send_at: float


class Limiter(Protocol):
    """What the client needs from the shared budget (implemented in store/limiter.py)."""

    def try_acquire(self) -> Permit | None: ...
    def cooldown_until(self) -> float: ...
    def release(self, permit: Permit, succeeded: bool) -> None: ...
    def throttled(self, retry_after: float | None) -> float: ...


class GovernedRpc:
    """JSON-RPC over HTTP through the shared limiter. Counters here are telemetry for
    progress bars and run metadata; figures the project claims come from the devnet."""

    def __init__(
        self,
        url: str,
        limiter: Limiter,
        *,
        timeout: float = READ_TIMEOUT_S,
        transient_attempts: int = TRANSIENT_ATTEMPTS,
    ):
        self._url = url
        self.shown_url = redact_url(url)
        self.limiter = limiter
        self.timeout = (CONNECT_TIMEOUT_S, timeout)
        self.transient_attempts = transient_attempts
        self._session = requests.Session()
        self._ids = itertools.count(1)
        self.calls: Counter[str] = Counter()
        self.throttles = 0

    def __repr__(self) -> str:
        return f"GovernedRpc({self.shown_url})"

    def close(self) -> None:
        self._session.close()

    # ---- the one entry point ----------------------------------------------------------------
    def call(self, method: str, params: list, parse: Callable[[Any], Any] | None = None) -> Any:
        """One JSON-RPC call, governed and retried; raises RpcError subclasses.

        `parse` turns the result into what the caller needs; if it raises ValueError the
        answer counts as garbage from the provider and the call is retried (bounded)."""
        retrying = Retrying(
            retry=retry_if_exception_type((RpcThrottled, RpcTransient)),
            wait=self._wait,
            stop=self._stop,
            reraise=True,
        )
        return retrying(self._governed_call, method, params, parse)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RpcThrottled):
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
        if isinstance(exc, RpcThrottled):
            return (state.seconds_since_start or 0.0) > THROTTLE_GIVE_UP_S
        return state.attempt_number >= self.transient_attempts

    def _governed_call(self, method: str, params: list, parse: Callable | None) -> Any:
        permit = self._take_permit()
        succeeded = False
        try:
            result = self._send(method, params)
            succeeded = True
        finally:
            self.limiter.release(permit, succeeded)
        if parse is None:
            return result
        try:
            return parse(result)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RpcTransient(f"{method}: malformed result: {str(exc)[:200]}") from None

    def _take_permit(self) -> Permit:
        while True:
            permit = self.limiter.try_acquire()
            if permit is None:
                time.sleep(_SLOT_POLL_S)
                continue
            time.sleep(max(0.0, permit.send_at - time.time()))
            # Someone may have been throttled while we waited for our turn: start over then.
            if self.limiter.cooldown_until() <= time.time():
                return permit
            self.limiter.release(permit, False)

    def _send(self, method: str, params: list) -> Any:
        self.calls[method] += 1
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            resp = self._session.post(self._url, json=payload, timeout=self.timeout)
        except requests.Timeout:
            raise RpcTransient(f"{method}: timed out after {self.timeout[1]:.0f}s") from None
        except requests.RequestException as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}", [self._url])
            raise RpcTransient(f"{method}: {reason[:300]}") from None
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if resp.status_code == 429:
            raise RpcThrottled(f"{method}: HTTP 429", retry_after)
        if resp.status_code >= 500:
            raise RpcTransient(f"{method}: HTTP {resp.status_code}")
        try:
            body = json.loads(resp.content)
        except ValueError:
            raise RpcTransient(
                f"{method}: unreadable response body ({len(resp.content)} bytes, HTTP "
                f"{resp.status_code})"
            ) from None
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            raise RpcTransient(f"{method}: not a JSON-RPC response: {str(body)[:120]}")
        if body.get("error") is not None:
            raise classify_rpc_error(body["error"], method, retry_after)
        if resp.status_code >= 400:
            raise RpcPermanent(f"{method}: HTTP {resp.status_code}")
        return body["result"]

    # ---- typed helpers ----------------------------------------------------------------------
    def chain_id(self) -> int:
        return self.call("eth_chainId", [], _quantity)

    def block_number(self) -> int:
        return self.call("eth_blockNumber", [], _quantity)

    def get_block(self, block: int | str) -> BlockHeader | None:
        """A block header by number or tag (`latest`, `finalized`); None if unknown."""
        tag = hex(block) if isinstance(block, int) else block
        return self.call("eth_getBlockByNumber", [tag, False], _header)

    def get_block_by_hash(self, block_hash: str) -> BlockHeader | None:
        return self.call("eth_getBlockByHash", [block_hash, False], _header)

    def get_logs(self, log_filter: dict, decode: Callable[[dict], Any]) -> list:
        """Logs matching `log_filter`, each passed through `decode` (the fast decoder);
        a garbage log makes the whole answer garbage, and the call is retried."""
        return self.call("eth_getLogs", [log_filter], lambda logs: [decode(x) for x in logs])


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    timestamp: int


def _header(value: object) -> BlockHeader | None:
    if value is None:
        return None
    return BlockHeader(
        _quantity(value["number"]), str(value["hash"]).lower(), _quantity(value["timestamp"])
    )


def _quantity(value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not a hex quantity: {str(value)[:80]}")
    return int(value, 16)


__all__ = ["BlockHeader", "GovernedRpc", "Limiter", "RpcError"]
