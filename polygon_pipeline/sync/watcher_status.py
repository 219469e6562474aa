"""What the watcher knows about its own health: /healthz, /metrics and the heartbeat row."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

WATCHER_ROLE = "watcher"  # its single-flight lease and heartbeat row


@dataclass
class WatcherStatus:
    silence_s: float
    started_at: float = field(default_factory=time.time)
    connected: bool = False
    last_head_number: int | None = None
    session_heads: int = 0  # newHeads notifications on the current connection
    last_head_at: float | None = None  # wall clock of the last newHeads notification
    last_fill_at: float | None = None
    http_head: int | None = None
    reconnects: int = 0
    reconnect_attempt: int = 0  # failed attempts in a row; 0 once a session was healthy
    leaders_watched: int = 0
    subscriptions: int = 0
    fills_written: int = 0
    fills_retracted: int = 0
    removals_refused: int = 0  # removed: true notices not about the stored fill, or unconfirmed
    foreign_logs: int = 0  # logs the subscription excludes, or in a block the node lacks
    gap_fills: int = 0
    ws_provider: str | None = None  # the label of the WebSocket provider in use
    provider_switches: int = 0  # sockets moved to another provider after a drop
    rpc_providers: dict[str, dict] = field(default_factory=dict)  # RpcPool.health()

    def head_age(self, now: float | None = None) -> float | None:
        if self.last_head_at is None:
            return None
        return (now or time.time()) - self.last_head_at

    def unhealthy_reason(self, now: float | None = None) -> str | None:
        """Why the watcher is not live, or None when it is. Live means connected *and*
        hearing new heads on this connection: silence from quiet leaders is normal, silence
        from the chain is not, and a subscription that has not delivered a head yet has
        shown nothing."""
        if not self.connected:
            return "not connected to the WebSocket"
        if self.session_heads == 0:
            return "no new head received on this connection yet"
        age = self.head_age(now)
        if age is None or age > self.silence_s:
            return f"no new head for {age or 0:.0f}s (POLYGON_WATCH_SILENCE_S={self.silence_s:g})"
        return None

    def healthy(self, now: float | None = None) -> bool:
        return self.unhealthy_reason(now) is None

    def as_json(self) -> dict:
        now = time.time()
        age = self.head_age(now)
        lag = (
            None
            if self.http_head is None or self.last_head_number is None
            else max(0, self.http_head - self.last_head_number)
        )
        reason = self.unhealthy_reason(now)
        return {
            "healthy": reason is None,
            "reason": reason,
            "connected": self.connected,
            "last_head_number": self.last_head_number,
            "last_head_age_s": None if age is None else round(age, 3),
            "last_fill_age_s": None
            if self.last_fill_at is None
            else round(now - self.last_fill_at, 3),
            "lag_to_http_head": lag,
            "reconnects": self.reconnects,
            "reconnect_attempt": self.reconnect_attempt,
            "leaders_watched": self.leaders_watched,
            "subscriptions": self.subscriptions,
            "fills_written": self.fills_written,
            "fills_retracted": self.fills_retracted,
            "removals_refused": self.removals_refused,
            "foreign_logs": self.foreign_logs,
            "gap_fills": self.gap_fills,
            "ws_provider": self.ws_provider,
            "provider_switches": self.provider_switches,
            "rpc_providers": self.rpc_providers,
            "uptime_s": round(now - self.started_at, 1),
        }

    def prometheus(self) -> str:
        """The same figures in Prometheus' text format."""
        lines = []
        for key, value in self.as_json().items():
            if value is None or isinstance(value, str | dict):
                continue
            name = f"polygon_pipeline_watcher_{key}"
            lines += [f"# TYPE {name} gauge", f"{name} {float(value)}"]
        # Providers by label (redact.provider_labels: host and port, never the URL's key).
        if self.ws_provider is not None:
            name = "polygon_pipeline_watcher_ws_provider"
            lines += [f"# TYPE {name} gauge", f'{name}{{provider="{self.ws_provider}"}} 1.0']
        for figure in ("in_service", "calls", "set_asides"):
            name = f"polygon_pipeline_rpc_provider_{figure}"
            if self.rpc_providers:
                lines.append(f"# TYPE {name} gauge")
            for label, state in self.rpc_providers.items():
                lines.append(f'{name}{{provider="{label}"}} {float(state[figure])}')
        return "\n".join(lines) + "\n"
