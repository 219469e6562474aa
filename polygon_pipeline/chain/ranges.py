"""The adaptive block-range planner: as large as the provider allows, never above the cap."""

from __future__ import annotations

# After a refusal, try a larger range again only after this many good chunks: providers'
# limits are mostly fixed, so re-probing often would waste a call per chunk.
PROBE_AFTER_CHUNKS = 32


class AdaptiveRange:
    """Start at the cap; on "range too large / too many results" shrink to the span the
    provider named (or halve); grow back toward the cap, probing beyond the last refusal
    only every PROBE_AFTER_CHUNKS good chunks."""

    def __init__(self, cap: int):
        if cap < 1:
            raise ValueError(f"range cap must be at least 1 block, got {cap}")
        self.cap = cap
        self.size = cap
        self.limit = cap  # the largest span believed to work
        self._streak = 0
        self.used: list[int] = []  # sizes of the chunks that succeeded, for run metadata

    def next_chunk(self, start: int, last: int) -> tuple[int, int]:
        return start, min(start + self.size - 1, last)

    def shrink(self, attempted: int, span: int | None) -> None:
        """A chunk of `attempted` blocks was refused; `span` is what the provider said works.
        Never grows the size: with chunks in flight, a refusal of a chunk planned before an
        earlier shrink says nothing new. Raises ValueError at one block: no smaller range
        can help."""
        if attempted <= 1:
            raise ValueError("a single block was refused")
        wanted = max(1, min(span, attempted - 1)) if span else max(1, attempted // 2)
        self.size = min(self.size, wanted)
        self.limit = self.size
        self._streak = 0

    def succeeded(self, size: int) -> None:
        self.used.append(size)
        self._streak += 1
        if self._streak >= PROBE_AFTER_CHUNKS and self.limit < self.cap:
            self.limit = min(self.cap, self.limit * 2)
            self._streak = 0
        self.size = min(self.limit, max(self.size, size * 2))
