"""The one family of errors a governed provider client raises (the JSON-RPC client and the
Data API client alike). Messages never hold a URL or a key: provider text is scrubbed where
it enters a message (see GovernedHttp.quote)."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every error a governed client raises."""


class Throttled(ProviderError):
    """The provider says slow down (HTTP 429 or a JSON-RPC rate-limit error)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Transient(ProviderError):
    """Network trouble, a 5xx, a timeout, or a truncated or garbage body: worth retrying."""


class Permanent(ProviderError):
    """The provider refused the request for a reason retrying cannot fix."""


class RangeTooLarge(ProviderError):
    """The provider refused an `eth_getLogs` block range or its number of results; `span` is
    the number of blocks it said would work, when it said."""

    def __init__(self, message: str, span: int | None = None):
        super().__init__(message)
        self.span = span


class ForeignAnswer(Transient):
    """The provider answered something the request excludes (a log from another address or
    topic, outside the block range, removed, or in a block the node does not know): nothing of
    the answer is written, and the request is retried like any other bad answer."""
