"""What the emulated provider saw and did: the only source of RPC figures the project claims."""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field


class WindowPeak:
    """The largest number of events in any 1-second window (exact: checked at each event)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self.peak = 0

    def add(self, now: float) -> None:
        self._times.append(now)
        while self._times and self._times[0] <= now - 1.0:
            self._times.popleft()
        self.peak = max(self.peak, len(self._times))


@dataclass
class Counters:
    started_at: float = field(default_factory=time.time)
    calls: Counter = field(default_factory=Counter)  # every call received, by method
    served: Counter = field(default_factory=Counter)  # calls forwarded to the node, by method
    throttled: Counter = field(default_factory=Counter)  # calls answered with a rate-limit error
    http_429: int = 0  # HTTP responses with status 429
    cu_spent: int = 0
    range_errors: int = 0
    result_cap_errors: int = 0
    faults: Counter = field(default_factory=Counter)  # 5xx, truncated, malformed
    ws_connections: int = 0
    ws_drops: int = 0
    ws_notifications: int = 0
    removed_logs_sent: int = 0
    untrusted: Counter = field(default_factory=Counter)  # bad answers sent, by fault
    omitted_logs: set = field(default_factory=set)  # (tx hash, log index) left out, once each
    first_served_at: float | None = None  # wall clock, for goodput over the busy interval
    last_served_at: float | None = None
    in_flight: int = 0  # HTTP requests received and not yet answered
    peak_in_flight: int = 0
    peak_received: WindowPeak = field(default_factory=WindowPeak)
    peak_served: WindowPeak = field(default_factory=WindowPeak)

    def served_call(self, method: str, cu: int, now: float) -> None:
        self.served[method] += 1
        self.cu_spent += cu
        self.peak_served.add(now)
        wall = time.time()
        self.first_served_at = self.first_served_at or wall
        self.last_served_at = wall

    def request_began(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def request_ended(self) -> None:
        self.in_flight -= 1

    def snapshot(self) -> dict:
        return {
            "started_at": self.started_at,
            "calls": dict(self.calls),
            "calls_total": sum(self.calls.values()),
            "served": dict(self.served),
            "served_total": sum(self.served.values()),
            "throttled": dict(self.throttled),
            "throttled_total": sum(self.throttled.values()),
            "http_429": self.http_429,
            "cu_spent": self.cu_spent,
            "range_errors": self.range_errors,
            "result_cap_errors": self.result_cap_errors,
            "faults": dict(self.faults),
            "ws_connections": self.ws_connections,
            "ws_drops": self.ws_drops,
            "ws_notifications": self.ws_notifications,
            "removed_logs_sent": self.removed_logs_sent,
            "untrusted": dict(self.untrusted),
            "omitted_logs": sorted(self.omitted_logs),
            "first_served_at": self.first_served_at,
            "last_served_at": self.last_served_at,
            "peak_rps_received": self.peak_received.peak,
            "peak_rps_served": self.peak_served.peak,
            "peak_in_flight": self.peak_in_flight,
        }
