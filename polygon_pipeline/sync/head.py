"""Where reconciliation stops: the finalized head, so reorgs cannot rewrite what it stored."""

from __future__ import annotations

from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import Permanent


def finalized_head(rpc: GovernedRpc, confirmation_blocks: int) -> int:
    """The `finalized` block when the node supports the tag, else latest - confirmations."""
    try:
        header = rpc.get_block("finalized")
    except Permanent:  # an old node or a provider without the tag
        header = None
    if header is not None:
        return header.number
    return max(0, rpc.block_number() - confirmation_blocks)
