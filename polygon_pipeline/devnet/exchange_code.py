"""Runtime bytecode placed at the real exchange addresses with `anvil_setCode`.

A tiny hand-assembled contract (no compiler, nothing downloaded): its calldata is a list of
256-byte records, and for each it emits the real `OrderFilled` event —
`LOG4(data[96:256], topic0, orderHash, maker, taker)`. One call can emit a whole match
(several maker fills plus the taker fill), so a block can hold many fills.

Record layout: orderHash (32) | maker (32, left-padded) | taker (32, left-padded) |
makerAssetId | takerAssetId | makerAmountFilled | takerAmountFilled | fee (32 each).
"""

from __future__ import annotations

from dataclasses import dataclass

from polygon_pipeline.chain.exchanges import ORDER_FILLED_TOPIC

RECORD_SIZE = 256


def _assemble() -> bytes:
    topic0 = bytes.fromhex(ORDER_FILLED_TOPIC[2:])
    loop, body = 0x02, 0x0A  # byte offsets of the two JUMPDESTs below
    code = bytes(
        [
            0x60,
            0x00,  # 00 PUSH1 0            ; i = 0
            0x5B,  # 02 JUMPDEST (loop)
            0x36,  # 03 CALLDATASIZE
            0x81,  # 04 DUP2               ; i
            0x10,  # 05 LT                 ; i < calldatasize
            0x60,
            body,  # 06 PUSH1 body
            0x57,  # 08 JUMPI
            0x00,  # 09 STOP
            0x5B,  # 0a JUMPDEST (body)
            0x60,
            0xA0,  # PUSH1 160             ; size
            0x81,
            0x60,
            0x60,
            0x01,  # DUP2 PUSH1 96 ADD     ; i + 96
            0x60,
            0x00,  # PUSH1 0               ; memory offset
            0x37,  # CALLDATACOPY
            0x80,
            0x60,
            0x40,
            0x01,
            0x35,  # DUP1 PUSH1 64 ADD CALLDATALOAD  ; taker topic
            0x81,
            0x60,
            0x20,
            0x01,
            0x35,  # DUP2 PUSH1 32 ADD CALLDATALOAD  ; maker topic
            0x82,
            0x35,  # DUP3 CALLDATALOAD               ; orderHash
            0x7F,
            *topic0,  # PUSH32 topic0
            0x60,
            0xA0,
            0x60,
            0x00,  # PUSH1 160 PUSH1 0
            0xA4,  # LOG4
            0x61,
            0x01,
            0x00,
            0x01,  # PUSH2 256 ADD       ; i += 256
            0x60,
            loop,
            0x56,  # PUSH1 loop JUMP
        ]
    )
    assert code[loop] == 0x5B and code[body] == 0x5B
    return code


EXCHANGE_RUNTIME = _assemble()


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One OrderFilled the generator asks the exchange code to emit."""

    order_hash: bytes
    maker: str
    taker: str
    maker_asset_id: int
    taker_asset_id: int
    maker_amount: int
    taker_amount: int
    fee: int


def encode_fills(records: list[FillRecord]) -> str:
    """Calldata (0x-hex) that makes the exchange code emit `records` in order."""
    out = bytearray()
    for r in records:
        out += r.order_hash.rjust(32, b"\0")
        out += bytes.fromhex(r.maker[2:]).rjust(32, b"\0")
        out += bytes.fromhex(r.taker[2:]).rjust(32, b"\0")
        for value in (r.maker_asset_id, r.taker_asset_id, r.maker_amount, r.taker_amount, r.fee):
            out += value.to_bytes(32, "big")
    return "0x" + out.hex()
