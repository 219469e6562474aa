"""The two Polymarket exchange contracts on Polygon and the event they emit."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak

POLYGON_CHAIN_ID = 137

ORDER_FILLED_SIGNATURE = (
    "OrderFilled(bytes32,address,address,uint256,uint256,uint256,uint256,uint256)"
)
ORDER_FILLED_TOPIC = "0x" + keccak(text=ORDER_FILLED_SIGNATURE).hex()

# The ABI fragment, for cross-checking the hand decoder against web3 and for building filters.
ORDER_FILLED_ABI = {
    "anonymous": False,
    "name": "OrderFilled",
    "type": "event",
    "inputs": [
        {"indexed": True, "name": "orderHash", "type": "bytes32"},
        {"indexed": True, "name": "maker", "type": "address"},
        {"indexed": True, "name": "taker", "type": "address"},
        {"indexed": False, "name": "makerAssetId", "type": "uint256"},
        {"indexed": False, "name": "takerAssetId", "type": "uint256"},
        {"indexed": False, "name": "makerAmountFilled", "type": "uint256"},
        {"indexed": False, "name": "takerAmountFilled", "type": "uint256"},
        {"indexed": False, "name": "fee", "type": "uint256"},
    ],
}


@dataclass(frozen=True)
class Exchange:
    """An exchange contract: a stable short name (cursors, partitions) and its address."""

    name: str
    address: str  # lowercase hex


CTF = Exchange("ctf", "0x4bfb41d5b3570defd03c39a9a4d8de6bd8b8982e")
NEGRISK = Exchange("negrisk", "0xc5d563a36ae78145c45a50134d48a1215220f80a")

EXCHANGES: dict[str, Exchange] = {e.name: e for e in (CTF, NEGRISK)}
EXCHANGE_BY_ADDRESS: dict[str, Exchange] = {e.address: e for e in EXCHANGES.values()}


def exchange_named(name: str) -> Exchange:
    """Look an exchange up by name, with an error that lists the valid names."""
    try:
        return EXCHANGES[name]
    except KeyError:
        raise ValueError(
            f"unknown exchange {name!r}: expected one of {', '.join(EXCHANGES)}"
        ) from None
