"""The error payloads real providers send, reproduced verbatim in shape and wording."""

from __future__ import annotations

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
