"""The `OrderFilled` event layouts Polymarket's exchanges have emitted.

V1 (CTF Exchange and NegRisk CTF Exchange until the CLOB V2 cutover) names both assets of
the order; V2 (CLOB V2 exchanges since 2026-04-28, and ExchangeV3) names the order's side and
outcome token and adds builder and metadata words. Sources: README, "Chain facts".
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak  # what eth_utils' keccak calls, without eth_utils' imports


@dataclass(frozen=True)
class Layout:
    """One `OrderFilled` layout: its topic0, the size of its data and its ABI (for web3
    cross-checks). maker and taker are topics 2 and 3 in every layout."""

    name: str  # "v1" | "v2"
    signature: str
    data_words: int  # non-indexed 32-byte words
    inputs: tuple[tuple[str, str], ...]  # non-indexed (name, type), in order

    @property
    def topic0(self) -> str:
        return "0x" + keccak(self.signature.encode()).hex()

    @property
    def data_hex_len(self) -> int:
        return 2 + 64 * self.data_words

    @property
    def abi(self) -> dict:
        indexed = [("orderHash", "bytes32"), ("maker", "address"), ("taker", "address")]
        return {
            "anonymous": False,
            "name": "OrderFilled",
            "type": "event",
            "inputs": [{"indexed": True, "name": n, "type": t} for n, t in indexed]
            + [{"indexed": False, "name": n, "type": t} for n, t in self.inputs],
        }


def _layout(name: str, inputs: tuple[tuple[str, str], ...]) -> Layout:
    types = ",".join(["bytes32", "address", "address", *(t for _, t in inputs)])
    return Layout(name, f"OrderFilled({types})", len(inputs), inputs)


V1 = _layout(
    "v1",
    (
        ("makerAssetId", "uint256"),
        ("takerAssetId", "uint256"),
        ("makerAmountFilled", "uint256"),
        ("takerAmountFilled", "uint256"),
        ("fee", "uint256"),
    ),
)
V2 = _layout(
    "v2",
    (
        ("side", "uint8"),
        ("tokenId", "uint256"),
        ("makerAmountFilled", "uint256"),
        ("takerAmountFilled", "uint256"),
        ("fee", "uint256"),
        ("builder", "bytes32"),
        ("metadata", "bytes32"),
    ),
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (V1, V2)}
LAYOUT_BY_TOPIC: dict[str, Layout] = {layout.topic0: layout for layout in LAYOUTS.values()}
