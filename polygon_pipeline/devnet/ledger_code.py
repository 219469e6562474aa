"""Runtime bytecode for the devnet's ledgers and for the router that lets one transaction
touch an exchange and a ledger (a fill and its token transfer, as on mainnet).

Both are hand-assembled like devnet/exchange_code.py (nothing compiled or downloaded):
- the *log emitter*, placed at the ledger addresses: calldata is a list of records
  `topic0 | topic1 | topic2 | topic3 | length | data (length bytes, a multiple of 32)`, and
  it emits `LOG4(data, topic0..3)` per record: TransferSingle, TransferBatch and
  ConditionResolution all have four topics;
- the *router*: records `target | length | payload`, each CALLed in order, reverting the
  whole transaction if one call fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode as abi_encode

from polygon_pipeline.chain.transfers import TRANSFER_BATCH, TRANSFER_SINGLE

ROUTER = "0x" + "0d" * 2 + "00" * 17 + "01"  # the devnet's own router address


def _loop(body: list[int], head: int) -> bytes:
    """`for (i = 0; i < calldatasize; i = next) body`, body leaving [i, next - i - head]."""
    loop, start = 0x02, 0x0A
    code = [
        0x60, 0x00, 0x5B, 0x36, 0x81, 0x10, 0x60, start, 0x57, 0x00, 0x5B,  # 00..0a
        *body,
        0x01, 0x60, head, 0x01,  # ADD PUSH1 head ADD: i = i + len + head
        0x60, loop, 0x56,  # JUMP loop
    ]  # fmt: skip
    return bytes(code)


def log_emitter() -> bytes:
    """LOG4 per calldata record (see the module docstring)."""
    body = [
        0x80, 0x60, 0x80, 0x01, 0x35,  # DUP1 PUSH1 128 ADD CALLDATALOAD   [i, len]
        0x80, 0x82, 0x60, 0xA0, 0x01, 0x60, 0x00, 0x37,  # CALLDATACOPY(0, i+160, len)
        0x81, 0x60, 0x60, 0x01, 0x35,  # topic3
        0x82, 0x60, 0x40, 0x01, 0x35,  # topic2
        0x83, 0x60, 0x20, 0x01, 0x35,  # topic1
        0x84, 0x35,  # topic0
        0x84, 0x60, 0x00, 0xA4,  # DUP5 (len) PUSH1 0 LOG4               [i, len]
    ]  # fmt: skip
    return _loop(body, 0xA0)


def router() -> bytes:
    """CALL each record's target with its payload; REVERT when a call fails."""
    body = [
        0x80, 0x60, 0x20, 0x01, 0x35,  # DUP1 PUSH1 32 ADD CALLDATALOAD     [i, len]
        0x80, 0x82, 0x60, 0x40, 0x01, 0x60, 0x00, 0x37,  # CALLDATACOPY(0, i+64, len)
        0x60, 0x00, 0x60, 0x00,  # retSize retOffset                      [i, len, 0, 0]
        0x82, 0x60, 0x00, 0x60, 0x00,  # DUP3: argsSize=len, argsOffset, value
        0x86, 0x35,  # DUP7 (i) CALLDATALOAD: target
        0x5A, 0xF1,  # GAS CALL                                           [i, len, ok]
        0x15, 0x60, 0x00, 0x57,  # ISZERO PUSH1 <fail> JUMPI (patched below)
    ]  # fmt: skip
    code = bytearray(_loop(body, 0x40))
    fail = len(code)
    code[code.index(bytes([0x15, 0x60, 0x00, 0x57])) + 2] = fail
    code += bytes([0x5B, 0x60, 0x00, 0x80, 0xFD])  # JUMPDEST PUSH1 0 DUP1 REVERT
    return bytes(code)


def _word(value: int | str) -> bytes:
    if isinstance(value, str):
        value = int(value, 16)
    return value.to_bytes(32, "big")


def log_record(topics: Sequence[int | str], data: bytes) -> bytes:
    """One log-emitter record: four topics and ABI data."""
    assert len(topics) == 4 and len(data) % 32 == 0
    return b"".join(_word(t) for t in topics) + _word(len(data)) + data


def transfer_record(
    operator: str, sender: str, receiver: str, ids: Sequence[int], amounts: Sequence[int]
) -> bytes:
    """A TransferSingle (one id) or TransferBatch record."""
    if len(ids) == 1:
        topic0, data = TRANSFER_SINGLE, _word(ids[0]) + _word(amounts[0])
    else:
        topic0 = TRANSFER_BATCH
        data = abi_encode(["uint256[]", "uint256[]"], [list(ids), list(amounts)])
    return log_record([topic0, operator, sender, receiver], data)


def route(calls: Sequence[tuple[str, bytes]]) -> str:
    """Router calldata (0x-hex) for (target, payload) calls made in order."""
    out = b"".join(_word(target) + _word(len(payload)) + payload for target, payload in calls)
    return "0x" + out.hex()
