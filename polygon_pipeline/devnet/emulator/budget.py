"""The provider's sliding one-second budget of requests and compute units."""

from __future__ import annotations

import math
from collections import deque

from polygon_pipeline.devnet.emulator.policy import Policy


class Budget:
    """Admit calls if the last second's calls and CU plus these stay within the policy."""

    def __init__(self) -> None:
        self._window: deque[tuple[float, int]] = deque()  # (time, cu) of each admitted call
        self._cu = 0

    def _expire(self, now: float) -> None:
        while self._window and self._window[0][0] <= now - 1.0:
            self._cu -= self._window.popleft()[1]

    def _fits(self, policy: Policy, calls: int, cu: int, freed_calls: int, freed_cu: int) -> bool:
        rps_ok = policy.max_rps is None or len(self._window) - freed_calls + calls <= policy.max_rps
        cu_ok = policy.cu_per_second is None or self._cu - freed_cu + cu <= policy.cu_per_second
        return rps_ok and cu_ok

    def try_admit(self, policy: Policy, now: float, costs: list[int]) -> float | None:
        """Admit all of `costs` (one per call) and return None, or admit none and return the
        seconds until they would fit."""
        self._expire(now)
        calls, cu = len(costs), sum(costs)
        if self._fits(policy, calls, cu, 0, 0):
            self._window.extend((now, c) for c in costs)
            self._cu += cu
            return None
        freed_cu = 0
        for freed_calls, (stamp, cost) in enumerate(self._window, start=1):
            freed_cu += cost
            if self._fits(policy, calls, cu, freed_calls, freed_cu):
                return max(stamp + 1.0 - now, 0.001)
        return 1.0  # larger than the whole budget: it will never fit; say "a second"

    @staticmethod
    def retry_after_header(wait: float) -> str:
        """Retry-After is whole seconds (RFC 9110); round up so obeying it always works."""
        return str(max(1, math.ceil(wait)))
