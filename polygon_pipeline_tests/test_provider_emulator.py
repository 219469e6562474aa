"""The provider emulator throttles, caps and breaks like a paid RPC, and counts it all."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.sync.client import connect

from polygon_pipeline.devnet.emulator.policy import FABRICATED_BLOCK_HASH, Policy
from polygon_pipeline_tests.helpers.rpc import call, get_logs, logs_filter


def _burst(url: str, n: int, method: str = "eth_blockNumber") -> list:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: call(url, method), range(n)))


def test_request_budget_answers_429_with_retry_after(devnet):
    devnet.configure(max_rps=5)
    answers = _burst(devnet.rpc_url, 30)
    throttled = [a for a in answers if a.status_code == 429]
    assert 0 < len(throttled) <= 25
    assert all(int(a.headers["Retry-After"]) >= 1 for a in throttled)
    assert all(a.json()["error"]["code"] == 429 for a in throttled)
    stats = devnet.stats()
    assert stats["http_429"] == len(throttled)
    assert stats["calls"]["eth_blockNumber"] == 30
    assert stats["served"]["eth_blockNumber"] == 30 - len(throttled)
    assert stats["peak_rps_served"] <= 5
    assert stats["peak_rps_received"] >= stats["peak_rps_served"]


def test_retry_after_is_honest(devnet):
    devnet.configure(max_rps=2)
    _burst(devnet.rpc_url, 4)
    refused = call(devnet.rpc_url, "eth_blockNumber")
    assert refused.status_code == 429
    time.sleep(int(refused.headers["Retry-After"]))
    assert call(devnet.rpc_url, "eth_blockNumber").status_code == 200


def test_compute_unit_budget_prices_methods(devnet):
    devnet.configure(cu_per_second=100)  # one eth_getLogs (75) fits, two do not
    head = devnet.head()
    first = call(devnet.rpc_url, "eth_getLogs", [logs_filter(max(head - 1, 0), head)])
    second = call(devnet.rpc_url, "eth_getLogs", [logs_filter(max(head - 1, 0), head)])
    cheap = call(devnet.rpc_url, "eth_blockNumber")  # 10 CU still fits
    assert (first.status_code, second.status_code, cheap.status_code) == (200, 429, 200)
    stats = devnet.stats()
    assert stats["cu_spent"] == 85
    assert stats["throttled"] == {"eth_getLogs": 1}


@pytest.mark.parametrize(
    ("style", "code", "text"),
    [("jsonrpc-429", 429, "compute units"), ("jsonrpc-32005", -32005, "rate limited")],
)
def test_throttling_inside_a_200_answer(devnet, style, code, text):
    devnet.configure(max_rps=1, throttle_style=style)
    answers = _burst(devnet.rpc_url, 5)
    assert all(a.status_code == 200 for a in answers)
    errors = [a.json()["error"] for a in answers if "error" in a.json()]
    assert errors and all(e["code"] == code and text in e["message"] for e in errors)
    assert devnet.stats()["throttled_total"] == len(errors)


def test_range_cap_suggests_a_range_that_works(devnet):
    devnet.mine(blocks=12, fills_per_block=2)
    head = devnet.head()
    devnet.configure(getlogs_max_range=10)
    answer = call(devnet.rpc_url, "eth_getLogs", [logs_filter(head - 11, head)]).json()
    message = answer["error"]["message"]
    assert "up to a 10 block range" in message
    lo, hi = (int(x, 16) for x in re.search(r"\[(0x[0-9a-f]+), (0x[0-9a-f]+)\]", message).groups())
    assert (lo, hi) == (head - 11, head - 2)
    assert isinstance(get_logs(devnet.rpc_url, lo, hi), list)
    devnet.configure(range_error_style="quicknode")
    answer = call(devnet.rpc_url, "eth_getLogs", [logs_filter(head - 11, head)]).json()
    assert answer["error"] == {"code": -32614, "message": "eth_getLogs is limited to a 10 range"}
    assert devnet.stats()["range_errors"] == 2


def test_result_cap_names_a_smaller_range(devnet):
    start = devnet.head() + 1
    end = devnet.mine(blocks=6, fills_per_block=10)["head"]
    devnet.configure(getlogs_max_results=25)
    answer = call(devnet.rpc_url, "eth_getLogs", [logs_filter(start, end)]).json()
    assert answer["error"]["code"] == -32005
    assert "query returned more than 25 results" in answer["error"]["message"]
    lo, hi = (
        int(x, 16)
        for x in re.search(r"\[(0x[0-9a-f]+), (0x[0-9a-f]+)\]", answer["error"]["message"]).groups()
    )
    assert lo == start and start <= hi < end
    assert 0 < len(get_logs(devnet.rpc_url, lo, hi)) <= 25


def test_fault_injection(devnet):
    devnet.configure(fault_5xx_rate=1.0)
    assert call(devnet.rpc_url, "eth_blockNumber").status_code in (502, 503)
    devnet.configure(fault_5xx_rate=0.0, truncate_rate=1.0)
    truncated = call(devnet.rpc_url, "eth_blockNumber")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        json.loads(truncated.text)
    devnet.configure(truncate_rate=0.0, malformed_rate=1.0)
    malformed = call(devnet.rpc_url, "eth_blockNumber").text
    with pytest.raises((ValueError, KeyError, TypeError)):
        json.loads(malformed)["result"]
    faults = devnet.stats()["faults"]
    assert faults["truncated"] == 1 and faults["malformed"] == 1
    assert faults.get("502", 0) + faults.get("503", 0) == 1


def test_added_latency(devnet):
    devnet.configure(latency_ms=300)
    began = time.monotonic()
    call(devnet.rpc_url, "eth_blockNumber")
    assert time.monotonic() - began >= 0.3


def test_logs_without_block_timestamp(devnet):
    end = devnet.mine(blocks=1, fills_per_block=3)["head"]
    assert all("blockTimestamp" in log for log in get_logs(devnet.rpc_url, end, end))
    devnet.configure(strip_block_timestamp=True)
    assert all("blockTimestamp" not in log for log in get_logs(devnet.rpc_url, end, end))


def test_unknown_setting_is_refused(devnet):
    import requests

    answer = requests.post(f"{devnet.control_url}/_devnet/config", json={"max_rsp": 3}, timeout=10)
    assert answer.status_code == 400 and "max_rsp" in answer.json()["error"]


def _subscribe(ws, *params) -> str:
    ws.send(
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": list(params)})
    )
    return json.loads(ws.recv(timeout=10))["result"]


def test_websocket_drops_on_schedule(devnet):
    devnet.configure(ws_drop_every_s=0.5)
    began = time.monotonic()
    with connect(devnet.ws_url) as ws:
        _subscribe(ws, "newHeads")
        with pytest.raises(Exception):  # noqa: B017 - any connection error is the drop
            while time.monotonic() - began < 5:
                ws.recv(timeout=5)
    assert time.monotonic() - began < 3
    assert devnet.stats()["ws_drops"] == 1


def test_silent_websocket_delivers_nothing(devnet):
    devnet.configure(ws_silent=True)
    with connect(devnet.ws_url) as ws:
        _subscribe(ws, "newHeads")
        devnet.mine(blocks=2)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1)


def test_reorg_delivers_removed_logs_over_websocket(devnet):
    with connect(devnet.ws_url) as ws:
        sub = _subscribe(ws, "logs", {"topics": [logs_filter(0, 0)["topics"][0]]})
        start = devnet.head() + 1
        end = devnet.mine(blocks=3, fills_per_block=4)["head"]
        live = devnet.truth(start, end)
        seen = [json.loads(ws.recv(timeout=10)) for _ in live]
        assert all(m["params"]["subscription"] == sub for m in seen)
        devnet.reorg(1)
        dropped = {(r["tx_hash"], r["log_index"]) for r in live if r["block_number"] == end}
        removed = set()
        while len(removed) < len(dropped):
            log = json.loads(ws.recv(timeout=10))["params"]["result"]
            if log["removed"]:
                removed.add((log["transactionHash"], int(log["logIndex"], 16)))
        assert removed == dropped
    assert devnet.stats()["removed_logs_sent"] >= len(dropped)


def _leader_logs_filter(devnet, start: int, end: int) -> tuple[dict, set[str]]:
    """A filter for the first leader's fills as maker (topic2), and the topics it allows."""
    wanted = "0x" + devnet.info()["leaders"][0][2:].rjust(64, "0")
    filt = logs_filter(start, end)
    filt["topics"] = [*filt["topics"], None, [wanted]]
    return filt, {wanted}


def test_untrusted_answer_faults_break_the_request_they_answer(devnet):
    """Each untrusted-answer fault hands back what a broken provider does: logs the topic
    filter excludes, logs past toBlock, removed logs, a log in a block no block has."""
    start = devnet.head() + 1
    end = devnet.mine(blocks=6, fills_per_block=10)["head"]
    devnet.mine(blocks=4, fills_per_block=10)  # logs past `end` to leak
    empty = devnet.mine(blocks=1, fills_per_block=0)["head"]
    filt, maker = _leader_logs_filter(devnet, start, end)

    def answer(asked: dict, **fault) -> list[dict]:
        devnet.configure(**fault)
        try:
            return call(devnet.rpc_url, "eth_getLogs", [asked]).json()["result"]
        finally:
            devnet.configure(**{k: Policy().as_dict()[k] for k in fault})

    honest = answer(filt)
    assert honest and all(log["topics"][2] in maker for log in honest)
    assert any(log["topics"][2] not in maker for log in answer(filt, ignore_topic_filter=True))
    past = answer(logs_filter(start, end), logs_past_to_block=3)
    assert max(int(log["blockNumber"], 16) for log in past) > end
    assert all(log["removed"] for log in answer(filt, removed_in_getlogs=True))
    fabricated = [log for log in answer(filt, fabricate_logs=True) if log not in honest]
    assert [log["blockHash"] for log in fabricated] == [FABRICATED_BLOCK_HASH]
    wide, _ = _leader_logs_filter(devnet, start, empty)  # its last block holds no log
    (lone,) = [log for log in answer(wide, fabricate_lone_logs=1) if log not in answer(wide)]
    assert lone["blockHash"] == FABRICATED_BLOCK_HASH and lone["blockTimestamp"]
    assert int(lone["blockNumber"], 16) == empty  # alone in its block
    untrusted = devnet.stats()["untrusted"]
    assert set(untrusted) == {
        "ignore_topic_filter",
        "logs_past_to_block",
        "removed_in_getlogs",
        "fabricate_logs",
        "fabricate_lone_logs",
    }


@pytest.mark.parametrize("style", ["other_hash", "same_hash"])
def test_bogus_removals_follow_each_log_notification(devnet, style):
    with connect(devnet.ws_url) as ws:
        _subscribe(ws, "logs", {"topics": [logs_filter(0, 0)["topics"][0]]})
        devnet.configure(bogus_removals=style)
        start = devnet.head() + 1
        live = devnet.truth(start, devnet.mine(blocks=1, fills_per_block=3)["head"])
        got = [json.loads(ws.recv(timeout=10))["params"]["result"] for _ in range(2 * len(live))]
    logs, removals = got[0::2], got[1::2]
    assert not any(log["removed"] for log in logs) and all(r["removed"] for r in removals)
    same = [r["blockHash"] == log["blockHash"] for log, r in zip(logs, removals, strict=True)]
    assert all(same) if style == "same_hash" else not any(same)
    assert devnet.stats()["untrusted"] == {f"bogus_removals_{style}": len(live)}
