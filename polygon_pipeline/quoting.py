"""Input quoted in a message, cut to a readable length: one line of a leaders file that was
10 MB long once went whole to stderr (10,485,891 bytes). Messages name the input; they need
its start, not all of it."""

from __future__ import annotations

QUOTE_CHARS = 80  # of one quoted value
MESSAGE_CHARS = 1000  # of a whole one-line error, whatever it quotes
ELLIPSIS = "..."


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters, an ellipsis and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}{ELLIPSIS} ({len(text):,} characters)"


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """`value` as `repr` shows it (quotes, escapes), cut to `limit` characters."""
    return cut(repr(value), limit)
