"""The governed RPC client: the only way any code of this project reaches the provider.

Every call takes a permit from the shared limiter (rate and concurrency across processes),
is retried with tenacity on throttling (shared back-off, Retry-After honoured) and on
transient failures (bounded), and is parsed from raw JSON: bulk `eth_getLogs` results stay
plain dicts for the fast decoder instead of going through web3's result formatting.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polygon_pipeline.chain.answer_checks import checked_logs
from polygon_pipeline.chain.rpc_errors import classify_rpc_error
from polygon_pipeline.governed_http import GovernedHttp, Limiter, parse_retry_after
from polygon_pipeline.provider_errors import Permanent, Transient


class RpcMethods:
    """The typed JSON-RPC calls, over whatever `call` sends them through: one provider
    (GovernedRpc) or several (chain/rpc_pool.py)."""

    def call(self, method: str, params: list, parse: Callable[[Any], Any] | None = None) -> Any:
        raise NotImplementedError

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
        a garbage log, or one the filter excludes (chain/answer_checks.py), makes the whole
        answer bad, and the call is retried."""
        return self.call(
            "eth_getLogs",
            [log_filter],
            lambda logs: [decode(x) for x in checked_logs(log_filter, logs)],
        )


class GovernedRpc(GovernedHttp, RpcMethods):
    """JSON-RPC over HTTP through the shared limiter."""

    def __init__(self, url: str, limiter: Limiter, **kwargs: Any):
        super().__init__(url, limiter, **kwargs)
        self._ids = itertools.count(1)

    def call(self, method: str, params: list, parse: Callable[[Any], Any] | None = None) -> Any:
        """One JSON-RPC call, governed and retried; raises ProviderError subclasses (see
        GovernedHttp.governed for `parse`)."""
        return self.governed(method, lambda: self._send(method, params), parse)

    def _send(self, method: str, params: list) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        resp = self.http(method, "POST", self._url, json=payload)
        try:
            body = json.loads(resp.content)
        except ValueError:
            raise self._not_json_rpc(method, resp, resp.text) from None
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            raise self._not_json_rpc(method, resp, str(body))
        if body.get("error") is not None:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise classify_rpc_error(body["error"], method, retry_after, self.quote)
        if resp.status_code >= 400:
            raise Permanent(f"{method}: HTTP {resp.status_code}")
        return body["result"]

    def _not_json_rpc(self, method: str, resp: Any, text: str) -> Exception:
        """An answer that is not JSON-RPC: a client error (401 bad key, 403, 404) is for good;
        anything else (a gateway's page, a cut-off body) is worth retrying."""
        status = resp.status_code
        kind = Permanent if 400 <= status < 500 else Transient
        return kind(f"{method}: not a JSON-RPC answer (HTTP {status}): {self.quote(text, 120)}")


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
        raise ValueError(f"not a hex quantity: {value}")  # cut by quote(), after scrubbing
    return int(value, 16)


__all__ = ["BlockHeader", "GovernedRpc", "RpcMethods"]
