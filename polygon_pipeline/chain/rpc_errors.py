"""How a provider's JSON-RPC error is classified: throttled, range too large, transient or
permanent (the classes are the one provider error family of provider_errors.py).

Providers signal throttling in HTTP (429) and inside JSON-RPC payloads (code 429, -32005 with
a rate message, -32007, -32012, -32016, or words like "rate limit" / "credits"); "range too
large / too many results" is a different thing, handled by the range planner, and each
provider words it its own way (RANGE_WORDINGS, one entry per provider wording, with the
block span it names when it names one); anything else the provider says is permanent and
fails with a clear message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from polygon_pipeline.provider_errors import (
    Permanent,
    ProviderError,
    RangeTooLarge,
    Throttled,
    Transient,
)

# The RPC names of the family, for the modules that catch them by these names.

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

_HEX = r"(0x[0-9a-f]+)"
_NUMBER = r"([\d,]+)"


def _hex_pair(found: re.Match[str]) -> int:
    """An inclusive [from, to] block pair, in hex."""
    return max(1, int(found[2], 16) - int(found[1], 16) + 1)


def _number(found: re.Match[str]) -> int:
    """A block count, with thousands separators and an optional K suffix."""
    value = int(found[1].replace(",", ""))
    return value * 1000 if found.groupdict().get("k") else value


def _no_span(_found: re.Match[str]) -> None:
    return None


@dataclass(frozen=True)
class RangeWording:
    """How one provider says "range too large / too many results" (`source`: where the
    wording is quoted), and how to read the span that works from it."""

    provider: str
    pattern: re.Pattern[str]
    span: Callable[[re.Match[str]], int | None]
    source: str


def _wording(provider: str, pattern: str, span: Callable, source: str) -> RangeWording:
    return RangeWording(provider, re.compile(pattern, re.IGNORECASE), span, source)


# Most specific first: a message that names a span is read before a generic one. Sources are
# GitHub threads quoting the providers' answers and Ponder's getLogs retry helper
# (ponder-sh/ponder, packages/utils/src/getLogsRetryHelper.ts).
RANGE_WORDINGS = (
    _wording(
        "alchemy",
        rf"this block range should work: \[{_HEX},\s*{_HEX}\]",
        _hex_pair,
        "BobTheBuidler/dank_mids#772, ethers-io/ethers.js#4703",
    ),
    _wording(
        "alchemy",
        r"up to an? ([\d,]+)(?P<k>k?) block range",
        _number,
        "ethers-io/ethers.js#4703",
    ),
    _wording("alchemy", r"log response size exceeded", _no_span, "bancorprotocol/webapp#523"),
    _wording(
        "infura",
        rf"try with this block range \[{_HEX},\s*{_HEX}\]",
        _hex_pair,
        "ethers-io/ethers.js#4703",
    ),
    _wording("infura", rf"range \d+ exceeds limit of {_NUMBER}", _number, "INFURA/infura#237"),
    _wording(
        "quicknode",
        rf"limited to an? {_NUMBER}(?: blocks?)? range",
        _number,
        "OffchainLabs/arbitrum-sdk#609",
    ),
    _wording(
        "ankr",
        rf"maximum \[from, to\] blocks distance: {_NUMBER}",
        _number,
        "ponder-sh/ponder#1940",
    ),
    _wording("ankr", r"block range is too wide", _no_span, "Ponder's getLogs retry helper"),
    _wording(
        "chainstack", r"block range limit exceeded", _no_span, "Ponder's getLogs retry helper"
    ),
    _wording(
        "blast",
        rf"exceeds the range allowed for your plan \(\d+ > {_NUMBER}\)",
        _number,
        "Ponder's getLogs retry helper",
    ),
    _wording(
        "tenderly",
        rf"range \d+ is bigger than range limit {_NUMBER}",
        _number,
        "bobanetwork/boba_legacy#827",
    ),
    _wording(
        "geth (bsc, publicnode)",
        rf"exceed maximum block range: {_NUMBER}",
        _number,
        "AlphaWallet/alpha-wallet-android#2736",
    ),
    _wording("reth", rf"query exceeds max block range {_NUMBER}", _number, "paradigmxyz/reth#8558"),
    _wording("reth (llamarpc, base)", r"query exceeds max results", _no_span, "base/base#2421"),
    _wording(
        "arbitrum",
        r"logs matched by query exceeds limit of \d+",
        _no_span,
        "Ponder's getLogs retry helper",
    ),
    _wording(
        "polygon zkevm",
        r"query returned more than \d+ results",
        _no_span,
        "Ponder's getLogs retry helper",
    ),
)
# Wordings of no particular provider. "block range" alone is not enough: "invalid block
# range params" is a permanent error.
GENERIC_RANGE_WORDS = (
    "range too large",
    "range is too large",
    "too many results",
    "response size",
    "exceed max",
    "more than",
)


def range_wording(text: str) -> tuple[RangeWording, re.Match[str]] | None:
    """The first provider wording `text` matches, and the match."""
    for wording in RANGE_WORDINGS:
        found = wording.pattern.search(text)
        if found:
            return wording, found
    return None


def _error_text(error: dict) -> str:
    """The message and, where a provider puts the detail there (Tenderly), the data."""
    data = error.get("data")
    detail = data.get("payload") if isinstance(data, dict) else data
    message = str(error.get("message", ""))
    return f"{message} ({detail})" if isinstance(detail, str) and detail else message


def classify_rpc_error(
    error: object,
    method: str,
    retry_after: float | None = None,
    quote: Callable[[str, int], str] = lambda text, limit: text[:limit],
) -> ProviderError:
    """Turn the JSON-RPC `error` object of a `method` call into the matching exception.
    `quote(text, limit)` is how provider text enters the message: the governed client
    passes one that scrubs secrets before cutting (a provider may echo the key)."""
    if not isinstance(error, dict):
        return Transient(f"{method}: malformed JSON-RPC error: {quote(str(error), 200)}")
    code = error.get("code")
    message = _error_text(error)
    text = f"{method}: JSON-RPC error {code}: {quote(message, 300)}"
    lowered = message.lower()
    if (
        code in THROTTLE_CODES
        or any(w in lowered for w in THROTTLE_WORDS)
        or (code == -32005 and "rate" in lowered)
    ):
        return Throttled(text, retry_after)
    matched = range_wording(message)
    if matched:
        wording, found = matched
        return RangeTooLarge(text, wording.span(found))
    if any(w in lowered for w in GENERIC_RANGE_WORDS):
        return RangeTooLarge(text)
    if code in (-32603, -32000) and ("timeout" in lowered or "unavailable" in lowered):
        return Transient(text)
    return Permanent(text)
