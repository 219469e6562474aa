"""The error payloads real providers send, reproduced verbatim in shape and wording."""

from __future__ import annotations

import json

THROTTLE_HTTP_MESSAGE = (
    "Your app has exceeded its compute units per second capacity. If you have retries "
    "enabled, you can safely ignore this message."
)


def rpc_error(call_id: object, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}}


def throttle_error(call_id: object, style: str) -> dict:
    if style == "jsonrpc-32005":  # Infura's wording
        return rpc_error(call_id, -32005, "daily request count exceeded, request rate limited")
    return rpc_error(call_id, 429, THROTTLE_HTTP_MESSAGE)


def range_error(call_id: object, style: str, cap: int, from_block: int) -> dict:
    if style == "quicknode":
        return rpc_error(call_id, -32614, f"eth_getLogs is limited to a {cap} range")
    return rpc_error(
        call_id,
        -32602,
        f"You can make eth_getLogs requests with up to a {cap} block range. Based on your "
        "parameters, this block range should work: "
        f"[{hex(from_block)}, {hex(from_block + cap - 1)}]",
    )


def result_cap_error(call_id: object, cap: int, from_block: int, to_block: int) -> dict:
    return rpc_error(
        call_id,
        -32005,
        f"query returned more than {cap} results. "
        f"Try with this block range [{hex(from_block)}, {hex(to_block)}].",
    )


def key_echo(call_id: object, url: str, key: str, turn: int) -> tuple[int, str]:
    """The (status, body) of one of the ways providers refuse a request while quoting its
    URL or key back: a gateway page, a throttle, a body that is not JSON-RPC, then a refusal
    for good (a JSON-RPC error, or a 401 page, every other time). A client that retries sees
    them in this order, so one call meets every kind of retry before it fails."""
    step = turn % 8
    if step % 4 == 0:
        return 200, f"<html><body>bad gateway while serving {url}</body></html>"
    if step % 4 == 1:
        return 200, json.dumps(rpc_error(call_id, 429, f"rate limit exceeded for key {key}"))
    if step % 4 == 2:
        return 200, json.dumps({"message": f"Unauthorized: {url}"})
    if step == 3:
        return 200, json.dumps(rpc_error(call_id, -32000, f"invalid API key '{key}' ({url})"))
    return 401, f"invalid API key '{key}'"
