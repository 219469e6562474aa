"""How a provider's answer is classified: throttled, range too large, transient or permanent.

Providers signal throttling in HTTP (429) and inside JSON-RPC payloads (code 429, -32005 with
a rate message, -32007, -32012, -32016, or words like "rate limit" / "credits"); "range too
large / too many results" is a different thing, handled by the range planner; anything else
that the provider says is permanent and fails with a clear message.
"""

from __future__ import annotations

import re

from polygon_pipeline.governed_http import (
    Permanent,
    ProviderError,
    Throttled,
    Transient,
)

THROTTLE_CODES = {429, -32007, -32012, -32016}
THROTTLE_WORDS = (
    "rate limit",
    "rate-limit",
    "ratelimit",
    "credits",
    "too many requests",
    "compute units",
    "request rate",
    "capacity exceeded",
    "throughput",
)
# "block range" alone is not enough: "invalid block range params" is a permanent error.
RANGE_WORDS = (
    "range too large",
    "range is too large",
    "too many results",
    "more than",
    "query returned",
    "limited to a",
    "up to a",
    "response size",
    "exceed max",
    "block range should work",
)
_RANGE_PAIR = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_RANGE_LIMIT = re.compile(r"(?:limited to|up to) an? ([\d,]+)(k?)(?: block)? range", re.IGNORECASE)


class RpcError(ProviderError):
    """Base of every error the governed RPC client raises."""


class RpcThrottled(RpcError, Throttled):
    """The provider says slow down (HTTP 429 or a JSON-RPC rate-limit error)."""


class RpcRangeTooLarge(RpcError):
    """The provider refused the block range or the number of results; `span` is the number
    of blocks it said would work, when it said."""

    def __init__(self, message: str, span: int | None = None):
        super().__init__(message)
        self.span = span


class RpcTransient(RpcError, Transient):
    """Network trouble, a 5xx, a timeout, or a truncated or garbage body: worth retrying."""


class RpcPermanent(RpcError, Permanent):
    """The provider refused the request for a reason retrying cannot fix."""


def _suggested_span(message: str) -> int | None:
    """The block span a range error says would work: a [from, to] pair (Alchemy, Infura) or
    "limited to a N range" (QuickNode)."""
    pair = _RANGE_PAIR.search(message)
    if pair:
        return max(1, int(pair[2], 16) - int(pair[1], 16) + 1)
    limit = _RANGE_LIMIT.search(message)
    if limit:
        return int(limit[1].replace(",", "")) * (1000 if limit[2] else 1)
    return None


def classify_rpc_error(error: object, method: str, retry_after: float | None = None) -> RpcError:
    """Turn the JSON-RPC `error` object of a `method` call into the matching exception."""
    if not isinstance(error, dict):
        return RpcTransient(f"{method}: malformed JSON-RPC error: {str(error)[:200]}")
    code = error.get("code")
    message = str(error.get("message", ""))
    text = f"{method}: JSON-RPC error {code}: {message[:300]}"
    lowered = message.lower()
    if (
        code in THROTTLE_CODES
        or any(w in lowered for w in THROTTLE_WORDS)
        or (code == -32005 and "rate" in lowered)
    ):
        return RpcThrottled(text, retry_after)
    if any(w in lowered for w in RANGE_WORDS):
        return RpcRangeTooLarge(text, _suggested_span(message))
    if code in (-32603, -32000) and ("timeout" in lowered or "unavailable" in lowered):
        return RpcTransient(text)
    return RpcPermanent(text)
