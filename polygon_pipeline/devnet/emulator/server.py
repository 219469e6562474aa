"""The emulator's HTTP and WebSocket proxy in front of anvil, plus its counters endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from polygon_pipeline.devnet.emulator import errors
from polygon_pipeline.devnet.emulator.budget import Budget
from polygon_pipeline.devnet.emulator.counters import Counters
from polygon_pipeline.devnet.emulator.policy import (
    FABRICATED_BLOCK_HASH,
    FABRICATED_LOG_INDEX_OFFSET,
    Policy,
)

_DELIVERED_LOGS_KEPT = 20_000
_BLOCK_TAGS_AT_HEAD = ("latest", "pending")


@dataclass(eq=False)
class _WsSession:
    client: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    url: str
    opened: float = field(default_factory=time.monotonic)
    delivered: list[tuple[str, dict]] = field(default_factory=list)  # (subscription, log)


class ProviderEmulator:
    """Throttles, caps and breaks JSON-RPC like a paid provider; counts everything it sees."""

    def __init__(self, upstream_http: str, upstream_ws: str, policy: Policy | None = None):
        self.upstream_http = upstream_http
        self.upstream_ws = upstream_ws
        self.policy = policy or Policy()
        self.counters = Counters()
        self.budget = Budget()
        self.rng = random.Random(self.policy.seed)
        self._sessions: set[_WsSession] = set()
        self._http: aiohttp.ClientSession | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_devnet/stats", self._stats)
        app.router.add_post("/_devnet/stats/reset", self._reset)
        app.router.add_get("/_devnet/config", self._get_config)
        app.router.add_post("/_devnet/config", self._set_config)
        app.router.add_post("/{tail:.*}", self._handle_http)
        app.router.add_get("/{tail:.*}", self._handle_ws)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)

    async def _open(self, _app: web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def _close(self, _app: web.Application) -> None:
        for session in list(self._sessions):
            await session.client.close()
        if self._http:
            await self._http.close()

    # ---- control --------------------------------------------------------------------------
    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.counters.snapshot())

    async def _reset(self, _request: web.Request) -> web.Response:
        self.counters = Counters()
        self.budget = Budget()
        return web.json_response(self.counters.snapshot())

    async def _get_config(self, _request: web.Request) -> web.Response:
        return web.json_response(self.policy.as_dict())

    async def _set_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            self.policy.update(changes)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if "seed" in changes:
            self.rng = random.Random(self.policy.seed)
        return web.json_response(self.policy.as_dict())

    # ---- upstream -------------------------------------------------------------------------
    async def upstream(self, method: str, params: list, call_id: object = 1) -> dict:
        """Ask anvil directly (uncounted: the emulator's own bookkeeping, not client traffic)."""
        assert self._http is not None
        payload = {"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}
        async with self._http.post(self.upstream_http, json=payload) as resp:
            return await resp.json(content_type=None)

    async def _block_number(self, tag: object) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        if tag == "earliest":
            return 0
        if tag in (None, *_BLOCK_TAGS_AT_HEAD):
            return int((await self.upstream("eth_blockNumber", []))["result"], 16)
        block = (await self.upstream("eth_getBlockByNumber", [tag, False]))["result"]
        return int(block["number"], 16)

    # ---- HTTP JSON-RPC --------------------------------------------------------------------
    async def _handle_http(self, request: web.Request) -> web.Response:
        counters = self.counters  # a reset while this request is in flight starts afresh
        counters.request_began()
        try:
            return await self._answer_http(request)
        finally:
            counters.request_ended()

    async def _answer_http(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return web.json_response(errors.rpc_error(None, -32700, "Parse error"), status=400)
        calls = payload if isinstance(payload, list) else [payload]
        if not calls or not all(isinstance(c, dict) for c in calls):
            return web.json_response(errors.rpc_error(None, -32600, "Invalid Request"), status=400)
        methods = [str(c.get("method")) for c in calls]
        now = time.monotonic()
        for method in methods:
            self.counters.calls[method] += 1
            self.counters.peak_received.add(now)
        if self.policy.down:
            return self._server_error(503)
        if self.policy.echo_key:
            return self._echo_key(request, calls[0].get("id"))
        if self.policy.fault_plan and self.policy.fault_plan_method in (None, *methods):
            fault = self.policy.fault_plan.pop(0)
            if fault == "429":
                return self._throttled(payload, calls, methods, self.policy.planned_retry_after_s)
            return self._server_error(int(fault))
        wait = self.budget.try_admit(self.policy, now, [self.policy.cost(m) for m in methods])
        if wait is not None:
            return self._throttled(payload, calls, methods, wait)
        for method in methods:
            self.counters.served_call(method, self.policy.cost(method), now)
        if self.policy.latency_ms:
            await asyncio.sleep(self.policy.latency_ms / 1000)
        if self.rng.random() < self.policy.fault_5xx_rate:
            return self._server_error(self.rng.choice((502, 503)))
        answers = [await self._serve(call) for call in calls]
        text = json.dumps(answers if isinstance(payload, list) else answers[0])
        if self.rng.random() < self.policy.truncate_rate:
            self.counters.faults["truncated"] += 1
            text = text[: len(text) // 2]
        elif self.rng.random() < self.policy.malformed_rate:
            self.counters.faults["malformed"] += 1
            text = self.rng.choice(('{"jsonrpc":"2.0","id":', "<html>gateway</html>", "null", "{}"))
        return web.Response(text=text, content_type="application/json")

    def _server_error(self, status: int) -> web.Response:
        self.counters.faults[str(status)] += 1
        return web.Response(
            status=status, text="<html><body>upstream error</body></html>", content_type="text/html"
        )

    def _echo_key(self, request: web.Request, call_id: object) -> web.Response:
        turn = sum(self.counters.calls.values()) - 1  # the calls of this test, from a reset
        url = str(request.url)
        status, body = errors.key_echo(call_id, url, _key(request.url.path), turn)
        return web.Response(status=status, text=body, content_type="application/json")

    def _throttled(
        self, payload: object, calls: list[dict], methods: list[str], wait: float
    ) -> web.Response:
        for method in methods:
            self.counters.throttled[method] += 1
        style = self.policy.throttle_style
        answers = [errors.throttle_error(c.get("id"), style) for c in calls]
        body = answers if isinstance(payload, list) else answers[0]
        if style != "http":
            return web.json_response(body)
        self.counters.http_429 += 1
        headers = (
            {"Retry-After": Budget.retry_after_header(wait)} if self.policy.retry_after else {}
        )
        return web.json_response(body, status=429, headers=headers)

    async def _serve(self, call: dict) -> dict:
        if call.get("method") == "eth_getLogs":
            return await self._get_logs(call)
        params = call.get("params", [])
        lag = self.policy.head_lag_blocks
        if lag and call.get("method") == "eth_blockNumber":
            head = await self._block_number("latest")
            return {"jsonrpc": "2.0", "id": call.get("id"), "result": hex(max(0, head - lag))}
        if lag and call.get("method") == "eth_getBlockByNumber" and _is_tag(params):
            tagged = await self._block_number(params[0])  # a node behind by `lag` blocks
            params = [hex(max(0, tagged - lag)), *params[1:]]
        return await self.upstream(call.get("method", ""), params, call.get("id"))

    async def _get_logs(self, call: dict) -> dict:
        call_id, params = call.get("id"), call.get("params") or [{}]
        filt = params[0] if params and isinstance(params[0], dict) else {}
        lo = hi = None
        if "blockHash" not in filt:
            try:
                lo = await self._block_number(filt.get("fromBlock", "latest"))
                hi = await self._block_number(filt.get("toBlock", "latest"))
            except (KeyError, TypeError, ValueError):
                lo = hi = None  # not a range it can read: anvil answers with its own error
            cap = self.policy.getlogs_max_range
            if cap is not None and lo is not None and hi is not None and hi - lo + 1 > cap:
                self.counters.range_errors += 1
                return errors.range_error(call_id, self.policy.range_error_style, cap, lo)
        answer = await self.upstream("eth_getLogs", await self._widened(filt, hi), call_id)
        logs = answer.get("result")
        if not isinstance(logs, list):
            return answer
        self._spoil(logs, lo, hi)
        limit = self.policy.getlogs_max_results
        if limit is not None and len(logs) > limit:
            self.counters.result_cap_errors += 1
            blocks = sorted(int(log["blockNumber"], 16) for log in logs)
            last_ok = blocks[limit] - 1  # the block before the one that overflows the cap
            start = blocks[0] if lo is None else lo
            return errors.result_cap_error(call_id, limit, start, max(start, last_ok))
        if self.policy.strip_block_timestamp:
            for log in logs:
                log.pop("blockTimestamp", None)
        return answer

    async def _widened(self, filt: dict, hi: int | None) -> list:
        """The filter sent to the node: the request's, or wider for a provider that ignores
        the topic filter or reads past toBlock."""
        sent = dict(filt)
        if self.policy.ignore_topic_filter and sent.get("topics"):
            sent["topics"] = sent["topics"][:1]
            self.counters.untrusted["ignore_topic_filter"] += 1
        past = self.policy.logs_past_to_block
        if past and hi is not None:
            head = await self._block_number("latest")
            sent["toBlock"] = hex(max(hi, min(hi + past, head)))
            self.counters.untrusted["logs_past_to_block"] += 1
        return [sent]

    def _spoil(self, logs: list, lo: int | None, hi: int | None) -> None:
        """Mark, add or leave out logs in an eth_getLogs answer (for blocks lo..hi) as the
        untrusted-answer faults say."""
        if self.policy.omit_logs_share and logs:
            left_out = [log for log in logs if _omitted(log, self.policy)]
            for log in left_out:
                self.counters.omitted_logs.add((log["transactionHash"], int(log["logIndex"], 16)))
            self.counters.untrusted["omit_logs"] += len(left_out)
            logs[:] = [log for log in logs if log not in left_out]
        if self.policy.removed_in_getlogs and logs:
            for log in logs:
                log["removed"] = True
            self.counters.untrusted["removed_in_getlogs"] += 1
        if self.policy.fabricate_logs and logs:
            logs.append(_fabricated(logs[0]))
            self.counters.untrusted["fabricate_logs"] += 1
        if self.policy.fabricate_lone_logs and logs and lo is not None and hi is not None:
            taken = {int(log["blockNumber"], 16) for log in logs}
            free = next((n for n in range(hi, lo - 1, -1) if n not in taken), None)
            if free is not None:
                logs.append({**_fabricated(logs[0]), "blockNumber": hex(free)})
                self.counters.untrusted["fabricate_lone_logs"] += 1
                self.policy.fabricate_lone_logs -= 1

    def _subscribed(self, text: str) -> str:
        """A `logs` subscription as the node is asked for it: without its topic positions
        after topic0 when the provider ignores the topic filter."""
        if not self.policy.ignore_topic_filter:
            return text
        try:
            call = json.loads(text)
            kind, filt = call["params"][0], call["params"][1]
        except (ValueError, KeyError, IndexError, TypeError):
            return text
        if call.get("method") != "eth_subscribe" or kind != "logs" or not filt.get("topics"):
            return text
        self.counters.untrusted["ignore_topic_filter"] += 1
        return json.dumps({**call, "params": [kind, {**filt, "topics": filt["topics"][:1]}]})

    async def _untrusted_notices(self, session: _WsSession, sub: str, log: dict) -> None:
        """What a broken provider sends after a log notification: a fabricated log, a
        removal of a log that was not reorged out."""
        notes = []
        if self.policy.fabricate_logs:
            notes.append(_fabricated(log))
            self.counters.untrusted["fabricate_logs"] += 1
        if self.policy.bogus_removals != "off":
            bogus = {**log, "removed": True}
            if self.policy.bogus_removals == "other_hash":
                bogus["blockHash"] = FABRICATED_BLOCK_HASH
            notes.append(bogus)
            self.counters.untrusted[f"bogus_removals_{self.policy.bogus_removals}"] += 1
        for note in notes:
            body = {
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": sub, "result": note},
            }
            await session.client.send_str(json.dumps(body))

    # ---- WebSocket ------------------------------------------------------------------------
    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if self.policy.down:
            return self._server_error(503)
        # timeout: how long a close waits for the client's close frame (aiohttp: 10 s; a
        # client that is itself stopping never sends one, and the devnet's stop waited)
        client = web.WebSocketResponse(autoping=True, heartbeat=None, timeout=1.0)
        if not client.can_prepare(request).ok:
            return web.json_response(
                errors.rpc_error(None, -32600, "POST JSON-RPC here"), status=405
            )
        transport = request.transport
        await client.prepare(request)
        self.counters.ws_connections += 1
        session = _WsSession(client, transport, str(request.url))
        self._sessions.add(session)
        assert self._http is not None
        try:
            async with self._http.ws_connect(self.upstream_ws, max_msg_size=0) as upstream:
                tasks = [
                    asyncio.create_task(self._pump_up(session, upstream)),
                    asyncio.create_task(self._pump_down(session, upstream)),
                    asyncio.create_task(self._drop_timer(session)),
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        except aiohttp.ClientError:
            pass
        finally:
            self._sessions.discard(session)
            if not client.closed:
                await client.close()
        return client

    async def _pump_up(
        self, session: _WsSession, upstream: aiohttp.ClientWebSocketResponse
    ) -> None:
        async for msg in session.client:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            text = msg.data if msg.type == aiohttp.WSMsgType.TEXT else msg.data.decode()
            text = self._subscribed(text)
            with contextlib.suppress(ValueError, AttributeError):
                method = str(json.loads(text).get("method"))
                self.counters.calls[method] += 1
                if not self.policy.echo_key:
                    self.counters.served_call(method, self.policy.cost(method), time.monotonic())
            if self.policy.echo_key:
                key = _key(session.url.split("?")[0])
                note = {"error": f"invalid API key '{key}' for {session.url}"}
                await session.client.send_str(json.dumps(note))
                continue
            await upstream.send_str(text)

    async def _pump_down(
        self, session: _WsSession, upstream: aiohttp.ClientWebSocketResponse
    ) -> None:
        async for msg in upstream:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data.get("method") == "eth_subscription":
                if self.policy.ws_silent:
                    continue
                params = data["params"]
                result = params.get("result")
                if isinstance(result, dict) and "logIndex" in result:
                    if self.policy.strip_block_timestamp:
                        result.pop("blockTimestamp", None)
                    session.delivered.append((params["subscription"], result))
                    del session.delivered[:-_DELIVERED_LOGS_KEPT]
                self.counters.ws_notifications += 1
                await session.client.send_str(json.dumps(data))
                if isinstance(result, dict) and "logIndex" in result:
                    await self._untrusted_notices(session, params["subscription"], result)
            else:
                await session.client.send_str(msg.data)

    async def _drop_timer(self, session: _WsSession) -> None:
        while True:
            await asyncio.sleep(0.05)
            every = self.policy.ws_drop_every_s
            if self.policy.down or (every and time.monotonic() - session.opened >= every):
                self.counters.ws_drops += 1
                if session.transport is not None:
                    session.transport.abort()  # an abrupt drop, as a provider's load balancer does
                return

    async def send_removed(self, after_block: int) -> int:
        """Deliver `removed: true` copies of every log already sent from blocks above
        `after_block`: what a node does in a reorg (anvil never does)."""
        sent = 0
        for session in list(self._sessions):
            keep = []
            for sub, log in session.delivered:
                if int(log["blockNumber"], 16) <= after_block:
                    keep.append((sub, log))
                    continue
                note = {
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": sub, "result": {**log, "removed": True}},
                }
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await session.client.send_str(json.dumps(note))
                    sent += 1
            session.delivered = keep
        self.counters.removed_logs_sent += sent
        return sent


def _key(path: str) -> str:
    """The key of a provider URL's path (`/v2/KEY`): its last segment."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def _is_tag(params: list) -> bool:
    return bool(params) and isinstance(params[0], str) and not params[0].startswith("0x")


def _omitted(log: dict, policy: Policy) -> bool:
    """Whether the omit-logs fault leaves this log out: by its identity and the seed, so
    every answer that holds it leaves it out alike."""
    identity = f"{policy.seed}:{log['transactionHash']}:{int(log['logIndex'], 16)}"
    digest = hashlib.sha256(identity.encode()).digest()
    return int.from_bytes(digest[:8], "big") < policy.omit_logs_share * 2**64


def _fabricated(log: dict) -> dict:
    """A copy of `log` in a block hash no block has, as a log of its own (another logIndex)."""
    index = int(log["logIndex"], 16) + FABRICATED_LOG_INDEX_OFFSET
    return {**log, "blockHash": FABRICATED_BLOCK_HASH, "logIndex": hex(index), "removed": False}
