"""A provider's log answer is checked against its request before anything is written.

A provider that ignores part of a filter (the topic positions, the block range) or hands
back reorged-out logs would otherwise have its logs stored as leader fills: every log must
come from a requested address, carry a requested value at every requested topic position,
lie in the requested blocks, and not be removed (a removed log is news only on a live
subscription, where the watcher checks it against the chain before it retracts anything).

A log in a block the node does not have (a fabricated one) is caught here when it costs no
extra call: two hashes for one block number in one answer; the watcher checks live logs
against the newHeads it hears. A fabricated log alone in its block, with a timestamp of
its own, shows nothing wrong in the answer: a backfill checks every block holding a fill
against its header, fetched by hash (chain/block_times.py, POLYGON_VERIFY_BLOCK_HASHES).
"""

from __future__ import annotations

from collections.abc import Iterable

from polygon_pipeline.provider_errors import ForeignAnswer


def _wanted(value: object) -> set[str] | None:
    """A filter position's accepted values, lowercase; None: any."""
    if value is None:
        return None
    return {str(v).lower() for v in (value if isinstance(value, list) else [value])}


def _quantity(value: object) -> int:
    return int(str(value), 16)


def mismatch(log_filter: dict, log: dict, allow_removed: bool = False) -> str | None:
    """Why `log` is not an answer to `log_filter`; None when it is."""
    if log.get("removed") and not allow_removed:
        return "a removed log"
    addresses = _wanted(log_filter.get("address"))
    if addresses is not None and str(log.get("address", "")).lower() not in addresses:
        return f"address {log.get('address')} was not asked for"
    topics = log.get("topics") or []
    for position, value in enumerate(log_filter.get("topics") or []):
        wanted = _wanted(value)
        if wanted is None:
            continue
        got = str(topics[position]).lower() if position < len(topics) else None
        if got not in wanted:
            return f"topic {position} {got} was not asked for"
    number = _quantity(log.get("blockNumber"))
    if "fromBlock" in log_filter and number < _quantity(log_filter["fromBlock"]):
        return f"block {number} is before fromBlock {_quantity(log_filter['fromBlock'])}"
    if "toBlock" in log_filter and number > _quantity(log_filter["toBlock"]):
        return f"block {number} is past toBlock {_quantity(log_filter['toBlock'])}"
    return None


def checked_logs(log_filter: dict, logs: Iterable[dict], label: str = "eth_getLogs") -> list:
    """`logs`, if every one answers `log_filter`; else ForeignAnswer naming the first that
    does not (the whole answer is untrusted, so none of it is kept)."""
    logs = list(logs)
    blocks: dict[object, object] = {}
    for log in logs:
        why = mismatch(log_filter, log)
        number, block_hash = log.get("blockNumber"), log.get("blockHash")
        if why is None and blocks.setdefault(number, block_hash) != block_hash:
            why = f"block {_quantity(number)} comes with two block hashes"
        if why is not None:
            tx = log.get("transactionHash")
            raise ForeignAnswer(
                f"{label}: the answer holds a log the request excludes ({why}; tx {tx})"
            )
    return logs
