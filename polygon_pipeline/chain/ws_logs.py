"""What web3's WebSocket subscriptions deliver, turned back into the raw JSON-RPC shapes the
fast decoder reads (web3 formats logs into HexBytes and ints on the way in)."""

from __future__ import annotations

from collections.abc import Mapping

from polygon_pipeline.chain.rpc_client import BlockHeader


def _hex(value: object) -> str:
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def raw_log(log: Mapping) -> dict:
    """A subscription's log as `eth_getLogs` would return it (hex strings throughout)."""
    raw = {
        "address": str(log["address"]).lower(),
        "topics": [_hex(t) for t in log["topics"]],
        "data": _hex(log["data"]),
        "blockNumber": _hex(log["blockNumber"]),
        "blockHash": _hex(log["blockHash"]),
        "transactionHash": _hex(log["transactionHash"]),
        "logIndex": _hex(log["logIndex"]),
        "removed": bool(log.get("removed", False)),
    }
    if log.get("blockTimestamp") is not None:
        raw["blockTimestamp"] = _hex(log["blockTimestamp"])
    return raw


def head_header(head: Mapping) -> BlockHeader:
    """A newHeads notification as a block header."""
    number, timestamp = head["number"], head["timestamp"]
    return BlockHeader(
        number if isinstance(number, int) else int(str(number), 16),
        _hex(head["hash"]).lower(),
        timestamp if isinstance(timestamp, int) else int(str(timestamp), 16),
    )
