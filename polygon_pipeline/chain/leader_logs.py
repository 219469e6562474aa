"""What one leader query returns: fills from the exchanges and position transfers from the
ledgers, told apart by the emitting contract (the venue registry)."""

from __future__ import annotations

from collections.abc import Iterable

from polygon_pipeline.chain.exchanges import POLYGON_CHAIN_ID, VENUE_BY_ADDRESS
from polygon_pipeline.chain.fills import Fill, decode_fill
from polygon_pipeline.chain.transfers import PositionTransfer, decode_transfer

LeaderLog = Fill | PositionTransfer


def decode_leader_log(log: dict, chain_id: int = POLYGON_CHAIN_ID) -> LeaderLog:
    """A ledger's log as a PositionTransfer, any other as a Fill (MalformedLog otherwise)."""
    venue = (
        VENUE_BY_ADDRESS.get(str(log.get("address", "")).lower()) if isinstance(log, dict) else None
    )
    if venue is not None and venue.events == "transfers":
        return decode_transfer(log, venue, chain_id)
    return decode_fill(log, chain_id)


def split_logs(logs: Iterable[LeaderLog]) -> tuple[list[Fill], list[PositionTransfer]]:
    """(fills, transfers) of a mixed answer, each in the order given."""
    fills: list[Fill] = []
    transfers: list[PositionTransfer] = []
    for item in logs:
        (transfers if isinstance(item, PositionTransfer) else fills).append(item)
    return fills, transfers
