"""Provider errors, one family: each provider's "range too large" wording on its own, with the
span it names, told apart from throttling and from permanent refusals (no devnet needed)."""

from __future__ import annotations

import pytest

from polygon_pipeline.chain.rpc_errors import RANGE_WORDINGS, classify_rpc_error, range_wording
from polygon_pipeline.provider_errors import (
    Permanent,
    ProviderError,
    RangeTooLarge,
    Throttled,
    Transient,
)

# (provider, error object as the provider sends it, the span it names)
PROVIDER_RANGE_ERRORS = [
    (
        "alchemy",
        {
            "code": -32600,
            "message": "You can make eth_getLogs requests with up to a 500 block range. Based "
            "on your parameters, this block range should work: [0x123c9b2, 0x123cba5]",
        },
        500,
    ),
    (
        "alchemy",
        {
            "code": -32602,
            "message": "Log response size exceeded. You can make eth_getLogs requests with up "
            "to a 2K block range and no limit on the response size, or you can request any "
            "block range with a cap of 10K logs in the response.",
        },
        2000,
    ),
    (
        "alchemy",
        {"code": -32602, "message": "Log response size exceeded. Please reduce query block range."},
        None,
    ),
    (
        "infura",
        {
            "code": -32005,
            "data": {"from": "0xBDE5F8", "limit": 10000, "to": "0x102DBCC"},
            "message": "query returned more than 10000 results. Try with this block range "
            "[0xBDE5F8, 0x102DBCC].",
        },
        0x102DBCC - 0xBDE5F8 + 1,
    ),
    ("infura", {"code": -32602, "message": "range 1000000 exceeds limit of 10000"}, 10_000),
    (
        "quicknode",
        {"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"},
        10_000,
    ),
    (
        "ankr",
        {"code": -32600, "message": "maximum [from, to] blocks distance: 10000"},
        10_000,
    ),
    ("ankr", {"code": -32600, "message": "block range is too wide"}, None),
    ("chainstack", {"code": -32000, "message": "Block range limit exceeded."}, None),
    (
        "blast",
        {
            "code": -32000,
            "message": "eth_getLogs exceeds the range allowed for your plan (5000 > 1000).",
        },
        1000,
    ),
    (
        "tenderly",
        {
            "code": -32602,
            "message": "invalid params",
            "data": {"payload": "range 9009594 is bigger than range limit 2000"},
        },
        2000,
    ),
    (
        "geth (bsc, publicnode)",
        {"code": -32000, "message": "exceed maximum block range: 5000"},
        5000,
    ),
    ("reth", {"code": -32602, "message": "query exceeds max block range 5000"}, 5000),
    (
        "reth (llamarpc, base)",
        {
            "code": -32602,
            "message": "query exceeds max results 20000, retry with the range 25766988-25775072",
        },
        None,
    ),
    (
        "arbitrum",
        {"code": -32000, "message": "logs matched by query exceeds limit of 10000"},
        None,
    ),
    (
        "polygon zkevm",
        {"code": -32000, "message": "query returned more than 10000 results"},
        None,
    ),
]


@pytest.mark.parametrize(
    ("provider", "error", "span"),
    [pytest.param(*c, id=f"{c[0]}: {c[1]['message'][:40]}") for c in PROVIDER_RANGE_ERRORS],
)
def test_each_providers_range_error_is_read_on_its_own(provider, error, span):
    refused = classify_rpc_error(error, "eth_getLogs")
    assert type(refused) is RangeTooLarge
    assert refused.span == span
    wording, _ = range_wording(f"{error['message']} ({(error.get('data') or {}).get('payload')})")
    assert wording.provider == provider


def test_every_labelled_wording_is_tested_and_sourced():
    tested = {p for p, _, _ in PROVIDER_RANGE_ERRORS}
    assert {w.provider for w in RANGE_WORDINGS} == tested
    assert all(w.source for w in RANGE_WORDINGS)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # a rate message wins over a range word
        ({"code": -32005, "message": "request rate limited: more than 100 calls"}, Throttled),
        ({"code": 429, "message": "query returned more than 10000 results"}, Throttled),
        # "block range" alone is a bad request, not a size to shrink
        ({"code": -32602, "message": "invalid block range params"}, Permanent),
        ({"code": -32000, "message": "header not found"}, Permanent),
        ({"code": -32603, "message": "request timeout"}, Transient),
        ({"code": -32000, "message": "too many results, narrow the filter"}, RangeTooLarge),
    ],
)
def test_throttles_ranges_and_refusals_are_told_apart(error, kind):
    assert type(classify_rpc_error(error, "eth_getLogs")) is kind


def test_one_family():
    for kind in (Throttled, Transient, Permanent, RangeTooLarge):
        assert issubclass(kind, ProviderError)
    assert classify_rpc_error({"code": 429, "message": "slow down"}, "m", 7.0).retry_after == 7.0


def test_provider_text_enters_the_message_through_the_clients_quote():
    key = "a1b2c3d4e5f6a7b8c9d0"
    error = {"code": -32000, "message": f"invalid API key '{key}' " + "x" * 400}
    refused = classify_rpc_error(
        error, "eth_chainId", quote=lambda text, limit: text.replace(key, "***")[:limit]
    )
    assert key not in str(refused) and "invalid API key '***'" in str(refused)
    assert len(str(refused)) < 360
