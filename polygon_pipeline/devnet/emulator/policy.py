"""What the emulated provider allows and which faults it injects; changeable at run time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from polygon_pipeline.devnet.runtime_settings import apply_changes

# Published per-method compute-unit costs (Alchemy's table); unknown methods cost DEFAULT_CU.
METHOD_CU = {
    "eth_chainId": 0,
    "net_version": 0,
    "eth_blockNumber": 10,
    "eth_getBlockByNumber": 16,
    "eth_getBlockByHash": 16,
    "eth_getLogs": 75,
    "eth_getTransactionReceipt": 15,
    "eth_call": 26,
    "eth_subscribe": 10,
    "eth_unsubscribe": 10,
}
DEFAULT_CU = 20

ThrottleStyle = Literal["http", "jsonrpc-429", "jsonrpc-32005"]
RangeErrorStyle = Literal["alchemy", "quicknode"]
BogusRemoval = Literal["off", "other_hash", "same_hash"]
# The block hash of fabricated logs and bogus removals: no block has it.
FABRICATED_BLOCK_HASH = "0x" + "fa" * 32
FABRICATED_LOG_INDEX_OFFSET = 10_000  # a fabricated copy's logIndex: the real one's plus this


@dataclass
class Policy:
    """Limits and faults. None means unlimited / off."""

    cu_per_second: int | None = None  # compute-unit budget over any 1-second window
    max_rps: float | None = None  # request budget over any 1-second window
    throttle_style: ThrottleStyle = "http"  # 429 + Retry-After, or a JSON-RPC error in a 200
    retry_after: bool = True  # send the Retry-After header with HTTP 429s
    getlogs_max_range: int | None = None  # blocks per eth_getLogs (free tiers: 10)
    getlogs_max_results: int | None = None  # logs per eth_getLogs response
    range_error_style: RangeErrorStyle = "alchemy"  # alchemy names a range that would work
    fault_5xx_rate: float = 0.0  # share of requests answered 502/503
    truncate_rate: float = 0.0  # share of 200 answers cut off mid-body
    malformed_rate: float = 0.0  # share of 200 answers that are not JSON-RPC at all
    latency_ms: float = 0.0  # added to every HTTP answer
    ws_drop_every_s: float | None = None  # close every WebSocket this long after it opened
    ws_silent: bool = False  # keep sockets open but deliver no notifications
    strip_block_timestamp: bool = False  # behave like a node without log.blockTimestamp
    echo_key: bool = False  # refuse every call, quoting the request's URL and key back
    # The answers of the next requests (of `fault_plan_method` only, when set), in order,
    # before any other rule: "429" (throttled in `throttle_style`, with a Retry-After of
    # `planned_retry_after_s` when `retry_after`), "502" or "503". A test replays a provider's
    # exact sequence (five 429s, then a 502) instead of hoping a rate produces it.
    fault_plan: list[str] = field(default_factory=list)
    fault_plan_method: str | None = None
    planned_retry_after_s: float = 1.0
    # Untrusted answers: what a broken or hostile provider hands back.
    ignore_topic_filter: bool = False  # eth_getLogs answered as if only topic0 were asked
    logs_past_to_block: int = 0  # eth_getLogs answered up to this many blocks past toBlock
    removed_in_getlogs: bool = False  # eth_getLogs answers' logs marked `removed: true`
    fabricate_logs: bool = False  # a copy of a real log in a block hash no block has, added
    #   to eth_getLogs answers and after each log notification
    fabricate_lone_logs: int = 0  # the next this many eth_getLogs answers gain a copy of a
    #   real log, with its blockTimestamp, in a block hash no block has, at a requested block
    #   where the answer has no other log (so no second hash for one block gives it away)
    bogus_removals: BogusRemoval = "off"  # after each log notification, a `removed: true`
    #   copy of it: "other_hash" in another block hash, "same_hash" in its own (no reorg)
    omit_logs_share: float = 0.0  # this share of the logs an eth_getLogs answer holds is left
    #   out, the same logs every time (chosen by their identity): a node missing logs
    #   (0xPolygon/bor#519), found only by asking another provider
    head_lag_blocks: int = 0  # the head (`eth_blockNumber`, block tags) this far behind
    down: bool = False  # every HTTP call answered 503, every socket closed and refused
    seed: int = 1
    method_cu: dict[str, int] = field(default_factory=lambda: dict(METHOD_CU))

    def cost(self, method: str) -> int:
        return self.method_cu.get(method, DEFAULT_CU)

    def update(self, changes: dict) -> None:
        apply_changes(self, changes, "emulator")

    def as_dict(self) -> dict:
        return asdict(self)
