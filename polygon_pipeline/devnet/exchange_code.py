"""Runtime bytecode placed at the real exchange addresses with `anvil_setCode`.

A tiny hand-assembled contract per event layout (no compiler, nothing downloaded): its
calldata is a list of records, and for each it emits the real `OrderFilled` event of its
layout — `LOG4(data, topic0, orderHash, maker, taker)`. One call can emit a whole match
(several maker fills plus the taker fill), so a block can hold many fills.

Record layout: orderHash (32) | maker (32, left-padded) | taker (32, left-padded) | the
layout's data words (32 each, as devnet/layouts.py encodes them).
"""

from __future__ import annotations

from polygon_pipeline.chain.events import Layout
from polygon_pipeline.devnet.layouts import FillRecord, devnet_layout

_HEAD = 96  # orderHash, maker, taker


def record_size(layout: Layout) -> int:
    return _HEAD + 32 * layout.data_words


def assemble(layout: Layout) -> bytes:
    """The runtime code that emits `layout`'s OrderFilled once per calldata record."""
    topic0 = bytes.fromhex(layout.topic0[2:])
    data, step = 32 * layout.data_words, record_size(layout)
    loop, body = 0x02, 0x0A  # byte offsets of the two JUMPDESTs below
    code = bytes(
        [
            0x60, 0x00,  # 00 PUSH1 0            ; i = 0
            0x5B,  # 02 JUMPDEST (loop)
            0x36,  # 03 CALLDATASIZE
            0x81,  # 04 DUP2               ; i
            0x10,  # 05 LT                 ; i < calldatasize
            0x60, body,  # 06 PUSH1 body
            0x57,  # 08 JUMPI
            0x00,  # 09 STOP
            0x5B,  # 0a JUMPDEST (body)
            0x61, data >> 8, data & 0xFF,  # PUSH2 data  ; size (any layout's)
            0x81, 0x60, _HEAD, 0x01,  # DUP2 PUSH1 96 ADD     ; i + 96
            0x60, 0x00,  # PUSH1 0               ; memory offset
            0x37,  # CALLDATACOPY
            0x80, 0x60, 0x40, 0x01, 0x35,  # DUP1 PUSH1 64 ADD CALLDATALOAD  ; taker topic
            0x81, 0x60, 0x20, 0x01, 0x35,  # DUP2 PUSH1 32 ADD CALLDATALOAD  ; maker topic
            0x82, 0x35,  # DUP3 CALLDATALOAD               ; orderHash
            0x7F, *topic0,  # PUSH32 topic0
            0x61, data >> 8, data & 0xFF, 0x60, 0x00,  # PUSH2 data PUSH1 0
            0xA4,  # LOG4
            0x61, step >> 8, step & 0xFF, 0x01,  # PUSH2 step ADD       ; i += step
            0x60, loop, 0x56,  # PUSH1 loop JUMP
        ]
    )  # fmt: skip
    assert code[loop] == 0x5B and code[body] == 0x5B
    return code


def encode_fills(records: list[FillRecord], layout: Layout) -> str:
    """Calldata (0x-hex) that makes `layout`'s exchange code emit `records` in order."""
    words = devnet_layout(layout).words
    out = bytearray()
    for r in records:
        out += r.order_hash.rjust(32, b"\0")
        out += bytes.fromhex(r.maker[2:]).rjust(32, b"\0")
        out += bytes.fromhex(r.taker[2:]).rjust(32, b"\0")
        for value in words(r):
            out += value.to_bytes(32, "big")
    return "0x" + out.hex()
