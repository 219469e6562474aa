"""The typed fill and the fast decoder of raw `OrderFilled` logs (JSON-RPC dicts, hex strings).

Hand-written on purpose: `int.from_bytes` over the 160-byte data is ~100x faster than
web3's `process_log`, and backfills decode every log the provider returns. The tests
cross-check it against web3's ABI decoding on real anvil logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from polygon_pipeline.chain.exchanges import (
    EXCHANGE_BY_ADDRESS,
    ORDER_FILLED_TOPIC,
    POLYGON_CHAIN_ID,
)

_DATA_HEX_LEN = 2 + 5 * 64  # "0x" + five 32-byte words


class MalformedLog(ValueError):
    """A log that is not a well-formed OrderFilled from a known exchange."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One OrderFilled log. Identity is (chain_id, tx_hash, log_index): one row per log."""

    chain_id: int
    exchange: str
    block_number: int
    block_hash: str
    block_timestamp: int | None  # unix seconds; None until known (log lacked blockTimestamp)
    tx_hash: str
    log_index: int
    order_hash: str
    maker: str
    taker: str
    maker_asset_id: int
    taker_asset_id: int
    maker_amount: int
    taker_amount: int
    fee: int
    removed: bool = False

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.chain_id, self.tx_hash, self.log_index)


def _hex_int(log: dict, field: str) -> int:
    value = log.get(field)
    if not isinstance(value, str) or not value.startswith("0x"):
        raise MalformedLog(f"log field {field!r} is not a hex quantity: {value!r}")
    return int(value, 16)


def _hash32(log: dict, field: str) -> str:
    value = log.get(field)
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise MalformedLog(f"log field {field!r} is not a 32-byte hash: {value!r}")
    return value.lower()


def decode_order_filled(log: dict, chain_id: int = POLYGON_CHAIN_ID) -> Fill:
    """Decode one raw log dict into a Fill, or raise MalformedLog saying what is wrong."""
    if not isinstance(log, dict):
        raise MalformedLog(f"log is not an object: {type(log).__name__}")
    address = str(log.get("address", "")).lower()
    exchange = EXCHANGE_BY_ADDRESS.get(address)
    if exchange is None:
        raise MalformedLog(f"log from {address!r}, which is not a known exchange")
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != 4:
        raise MalformedLog(f"OrderFilled needs 4 topics, got {topics!r}")
    if str(topics[0]).lower() != ORDER_FILLED_TOPIC:
        raise MalformedLog(f"topic0 {topics[0]!r} is not OrderFilled")
    data = log.get("data")
    if not isinstance(data, str) or len(data) != _DATA_HEX_LEN:
        raise MalformedLog(f"OrderFilled data must be 160 bytes, got {data!r:.80}")
    try:
        raw = bytes.fromhex(data[2:])
        order_hash, maker_topic, taker_topic = (str(t).lower() for t in topics[1:])
        if len(maker_topic) != 66 or len(taker_topic) != 66 or len(order_hash) != 66:
            raise ValueError("topic is not 32 bytes")
        block_ts = log.get("blockTimestamp")
        return Fill(
            chain_id=chain_id,
            exchange=exchange.name,
            block_number=_hex_int(log, "blockNumber"),
            block_hash=_hash32(log, "blockHash"),
            block_timestamp=int(block_ts, 16) if block_ts else None,
            tx_hash=_hash32(log, "transactionHash"),
            log_index=_hex_int(log, "logIndex"),
            order_hash=order_hash,
            maker="0x" + maker_topic[26:],
            taker="0x" + taker_topic[26:],
            maker_asset_id=int.from_bytes(raw[0:32], "big"),
            taker_asset_id=int.from_bytes(raw[32:64], "big"),
            maker_amount=int.from_bytes(raw[64:96], "big"),
            taker_amount=int.from_bytes(raw[96:128], "big"),
            fee=int.from_bytes(raw[128:160], "big"),
            removed=bool(log.get("removed", False)),
        )
    except MalformedLog:
        raise
    except (ValueError, TypeError) as exc:
        raise MalformedLog(f"malformed OrderFilled log: {exc}") from exc
