"""Benchmark 4: fills/s decoded (hand decoder vs web3's process_log) and rows/s upserted on
SQLite and PostgreSQL. Real OrderFilled logs come from the devnet.

    .venv/bin/python -m bench.decode_store [--fills 50000] [--random-hashes]

Rates are per wall-clock second and per CPU-second of this process: on a shared machine the
second says what the code costs (for SQLite it holds the database's own work; for
PostgreSQL only the client's). The copies' transaction hashes count up by default (the
figures since BENCHMARKS 4a); `--random-hashes` makes them random, as on the chain, so each
new row lands at a random place in the identity index.
"""

from __future__ import annotations

import argparse
import os
import time

import requests
from eth_utils import keccak
from web3 import Web3

from bench.common import markdown_table, running_devnet, scratch_databases
from polygon_pipeline.chain.events import LAYOUT_BY_TOPIC
from polygon_pipeline.chain.fills import decode_fill
from polygon_pipeline.store.engine import make_engine
from polygon_pipeline.store.fills_repo import upsert_fills

BATCH = 1000


def _real_logs(n_blocks: int, per_block: int) -> list[dict]:
    with running_devnet() as devnet:
        head = devnet.mine(blocks=n_blocks, fills_per_block=per_block)["head"]
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getLogs",
            "params": [{"fromBlock": "0x1", "toBlock": hex(head)}],
        }
        return requests.post(devnet.anvil_url, json=body, timeout=120).json()["result"]


def _widen(logs: list[dict], total: int, random_hashes: bool = False) -> list[dict]:
    """Copies of real logs with distinct identities, so the store sees `total` new rows."""
    out = []
    for i in range(total):
        log = dict(logs[i % len(logs)])
        log["transactionHash"] = "0x" + (
            keccak(i.to_bytes(8)).hex() if random_hashes else f"{i:064x}"
        )
        out.append(log)
    return out


def _load() -> str:
    """The 1-, 5- and 15-minute load averages and the cores: the rates are wall-clock rates,
    on what may be a shared machine."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fills", type=int, default=50_000)
    parser.add_argument("--random-hashes", action="store_true")
    args = parser.parse_args()
    loaded_before = _load()
    logs = _widen(_real_logs(20, 100), args.fills, args.random_hashes)

    began = time.perf_counter()
    fills = [decode_fill(log) for log in logs]
    ours = time.perf_counter() - began

    events = {
        topic: Web3().eth.contract(abi=[layout.abi]).events.OrderFilled()
        for topic, layout in LAYOUT_BY_TOPIC.items()
    }
    sample = logs[: min(5_000, len(logs))]
    formatted = [(events[log["topics"][0]], _web3_formatted(log)) for log in sample]
    began = time.perf_counter()
    for event, entry in formatted:
        event.process_log(entry)
    theirs = time.perf_counter() - began

    rows = [
        ["decode (hand, int.from_bytes)", f"{len(fills):,}", _rate(len(fills), ours), ""],
        ["decode (web3 process_log)", f"{len(sample):,}", _rate(len(sample), theirs), ""],
    ]
    with scratch_databases() as urls:
        for name, url in urls.items():
            engine = make_engine(url)
            for label in ("new rows", "same rows again (idempotent)"):
                began, cpu = time.perf_counter(), time.process_time()
                for start in range(0, len(fills), BATCH):
                    with engine.begin() as conn:
                        upsert_fills(conn, fills[start : start + BATCH], "backfill")
                took, cpu = time.perf_counter() - began, time.process_time() - cpu
                rows.append(
                    [
                        f"upsert {name}, {label}, {BATCH}/txn",
                        f"{len(fills):,}",
                        _rate(len(fills), took),
                        _rate(len(fills), cpu),
                    ]
                )
            engine.dispose()
    speedup = (len(fills) / ours) / (len(sample) / theirs)
    print(markdown_table(["what", "items", "per second", "per CPU-second"], rows))
    print(f"\nhand decoder vs web3: {speedup:,.0f}x")
    print(f"load average: {loaded_before} at the start, {_load()} at the end")


def _web3_formatted(log: dict) -> dict:
    """The log as web3's own eth_getLogs formatter hands it to process_log."""
    from hexbytes import HexBytes
    from web3.datastructures import AttributeDict

    return AttributeDict(
        {
            "address": Web3.to_checksum_address(log["address"]),
            "topics": [HexBytes(t) for t in log["topics"]],
            "data": HexBytes(log["data"]),
            "blockNumber": int(log["blockNumber"], 16),
            "blockHash": HexBytes(log["blockHash"]),
            "transactionHash": HexBytes(log["transactionHash"]),
            "transactionIndex": int(log["transactionIndex"], 16),
            "logIndex": int(log["logIndex"], 16),
            "removed": log["removed"],
        }
    )


if __name__ == "__main__":
    main()
