"""The ERC-1155 transfers of the two ledgers (ConditionalTokens, Protocol V2's
PositionManager) and their decoder: where a leader's positions come from.

Both ledgers are standard ERC-1155s, so one topic0 list holds both events and `from` / `to`
sit at topics 2 and 3, the same places as an OrderFilled's maker and taker: one filter asks
for fills and transfers at once (chain/log_queries.py). Signatures and topic0 values:
docs/chain.md, "Ledgers".
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID, Venue
from polygon_pipeline.chain.fills import MalformedLog

ZERO_ADDRESS = "0x" + "00" * 20


def _topic(signature: str) -> str:
    return "0x" + keccak(signature.encode()).hex()


TRANSFER_SINGLE = _topic("TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH = _topic("TransferBatch(address,address,address,uint256[],uint256[])")
TRANSFER_TOPICS = sorted((TRANSFER_SINGLE, TRANSFER_BATCH))
# ConditionalTokens' resolution: conditionId, oracle, questionId indexed; the payouts in data
CONDITION_RESOLUTION = _topic("ConditionResolution(bytes32,address,bytes32,uint256,uint256[])")


class MalformedTransfer(MalformedLog):
    """A log that is not a well-formed ERC-1155 transfer."""


@dataclass(frozen=True, slots=True)
class PositionTransfer:
    """One TransferSingle or TransferBatch log: `token_ids[i]` moved `amounts[i]` from
    `sender` to `receiver` (the zero address: a mint or a burn). Identity is (chain_id,
    tx_hash, log_index), like a fill's."""

    chain_id: int
    ledger: str  # the venue name: ctf_ledger, pm_ledger
    block_number: int
    block_hash: str
    block_timestamp: int | None
    tx_hash: str
    log_index: int
    operator: str
    sender: str
    receiver: str
    token_ids: tuple[int, ...]
    amounts: tuple[int, ...]
    removed: bool = False

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.chain_id, self.tx_hash, self.log_index)


def _address(topic: object) -> str:
    text = str(topic).lower()
    if len(text) != 66 or not text.startswith("0x"):
        raise MalformedTransfer(f"topic {topic!r} is not 32 bytes")
    return "0x" + text[26:]


def abi_decode(types: list[str], raw: bytes) -> tuple:
    """eth_abi's decoding, loaded on first use (the commands that only read the store never
    import it: test_cli_start); its DecodingError becomes a ValueError."""
    from eth_abi import decode
    from eth_abi.exceptions import DecodingError

    try:
        return decode(types, raw)
    except DecodingError as exc:
        raise ValueError(str(exc)) from exc


def decode_transfer(log: dict, venue: Venue, chain_id: int = POLYGON_CHAIN_ID) -> PositionTransfer:
    """Decode a raw TransferSingle / TransferBatch log of `venue` (a ledger)."""
    topics = log.get("topics")
    if not isinstance(topics, list) or len(topics) != 4:
        raise MalformedTransfer(f"an ERC-1155 transfer needs 4 topics, got {topics!r}")
    topic0 = str(topics[0]).lower()
    try:
        raw = bytes.fromhex(str(log.get("data", ""))[2:])
        if topic0 == TRANSFER_SINGLE:
            if len(raw) != 64:
                raise ValueError(f"TransferSingle data must be 64 bytes, got {len(raw)}")
            ids, amounts = (int.from_bytes(raw[:32], "big"),), (int.from_bytes(raw[32:], "big"),)
        elif topic0 == TRANSFER_BATCH:
            ids, amounts = abi_decode(["uint256[]", "uint256[]"], raw)
            if len(ids) != len(amounts):
                raise ValueError("TransferBatch ids and values differ in length")
        else:
            raise ValueError(f"topic0 {topics[0]!r} is not an ERC-1155 transfer")
        block_ts = log.get("blockTimestamp")
        return PositionTransfer(
            chain_id=chain_id,
            ledger=venue.name,
            block_number=int(log["blockNumber"], 16),
            block_hash=str(log["blockHash"]).lower(),
            block_timestamp=int(block_ts, 16) if block_ts else None,
            tx_hash=str(log["transactionHash"]).lower(),
            log_index=int(log["logIndex"], 16),
            operator=_address(topics[1]),
            sender=_address(topics[2]),
            receiver=_address(topics[3]),
            token_ids=tuple(ids),
            amounts=tuple(amounts),
            removed=bool(log.get("removed", False)),
        )
    except MalformedTransfer:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedTransfer(f"malformed ERC-1155 transfer log: {exc}") from exc


NEG_RISK_ADAPTER = "0xd91e80cf2e7be2e162c6513ced06f1dd0da35296"
# The CLOB V2 neg-risk collateral adapters (py-sdk): they split, merge and redeem, and convert
# through the NegRiskAdapter, pulling the NO tokens and handing out the YES ones themselves.
NEG_RISK_COLLATERAL_ADAPTERS = frozenset(
    {
        "0xada200001000ef00d07553cee7006808f895c6f1",  # NegRiskCtfCollateralAdapter
        "0xada2005600dec949baf300f4c6120000bdb6eaab",  # newer NegRisk collateral adapter
    }
)
# Contracts that split, merge and redeem for a wallet: a ConditionalTokens mint reaches the
# wallet from them, a burn leaves it to them (DESIGN "Beyond the fill"; docs/positions.md):
# NegRiskAdapter (V1 neg-risk) and the CLOB V2 collateral adapters, both pairs in py-sdk.
SPLIT_MERGE_ADAPTERS = frozenset(
    {
        NEG_RISK_ADAPTER,
        "0xada100874d00e3331d00f2007a9c336a65009718",  # CtfCollateralAdapter
        "0xada100db00ca00073811820692005400218fce1f",  # newer CtfCollateralAdapter
        *NEG_RISK_COLLATERAL_ADAPTERS,
    }
)
# NegRiskAdapter.convertPositions sends the NO tokens it converts here, never to be redeemed:
# address(bytes20(keccak256("NO_TOKEN_BURN_ADDRESS"))) (Polymarket neg-risk-ctf-adapter,
# NegRiskAdapter.sol; docs/positions.md, "Neg-risk conversions").
NO_TOKEN_BURN_ADDRESS = "0xa5ef39c3d3e10d0b270233af41cac69796b12966"
# Its event (stakeholder, marketId, indexSet indexed; amount in data): the devnet emits it as
# mainnet does; the pipeline reads a conversion from the transfers alone (docs/positions.md).
POSITIONS_CONVERTED = _topic("PositionsConverted(address,bytes32,uint256,uint256)")


@dataclass(frozen=True, slots=True)
class Resolution:
    """A ConditionResolution: the condition's payout numerators (their share of the sum is
    what one token of each outcome index redeems for)."""

    condition_id: str
    block_number: int
    tx_hash: str
    payouts: tuple[int, ...]


def decode_resolution(log: dict) -> Resolution:
    topics = log.get("topics") or []
    if len(topics) != 4 or str(topics[0]).lower() != CONDITION_RESOLUTION:
        raise MalformedTransfer(f"not a ConditionResolution log: {topics!r:.120}")
    try:
        _slots, numerators = abi_decode(["uint256", "uint256[]"], bytes.fromhex(log["data"][2:]))
        return Resolution(
            str(topics[1]).lower(),
            int(log["blockNumber"], 16),
            str(log["transactionHash"]).lower(),
            tuple(numerators),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedTransfer(f"malformed ConditionResolution log: {exc}") from exc
