"""Never continue a store on another chain.

The devnet says chain id 137 like Polygon, so the chain id alone cannot tell a demo's store
from mainnet's: the genesis block hash can (a devnet restarted is a new chain too). The first
process that uses a store with a provider records the pair; every later one compares before
it writes anything, and refuses with one line naming both chains. A store filled before
identities were recorded is checked through its oldest fill's block hash first."""

from __future__ import annotations

from sqlalchemy import Engine

from polygon_pipeline.chain.rpc_client import GovernedRpc
from polygon_pipeline.provider_errors import Transient
from polygon_pipeline.settings import ConfigError
from polygon_pipeline.store import chain_identity_repo
from polygon_pipeline.store.chain_identity_repo import ChainIdentity

_WHAT_TO_DO = (
    "use a database of its own for this chain (POLYGON_PIPELINE_DB_URL, e.g. a new SQLite "
    "file), or point POLYGON_RPC_URL back at the chain the database was filled from"
)


class ChainMismatch(ConfigError):
    """The provider serves another chain than the one the store was filled from."""


def provider_identity(rpc: GovernedRpc) -> ChainIdentity:
    """The provider's chain: its id and genesis block hash (two calls, once per process)."""
    chain_id = rpc.chain_id()
    genesis = rpc.get_block(0)
    if genesis is None:
        raise Transient("eth_getBlockByNumber: the provider has no genesis block")
    return ChainIdentity(chain_id, genesis.hash)


def ensure_same_chain(engine: Engine, rpc: GovernedRpc, here: ChainIdentity, store: str) -> None:
    """Record `here` as the store's chain if none is recorded yet (after checking the fills
    of an older store against it); raise ChainMismatch if the store holds another chain."""
    with engine.begin() as conn:
        stored = chain_identity_repo.recorded(conn)
        if stored is None:
            _check_unrecorded_fills(conn, rpc, store)
            stored = chain_identity_repo.record(conn, here)
    if stored != here:
        raise ChainMismatch(
            f"the database {store} was filled from {stored}, but POLYGON_RPC_URL serves "
            f"{here}: {_WHAT_TO_DO}"
        )


def compare_with_store(engine: Engine, here: ChainIdentity, store: str) -> str:
    """What `doctor` says of the store's chain, writing nothing; ChainMismatch if another."""
    with engine.connect() as conn:
        stored = chain_identity_repo.recorded(conn)
    if stored is None:
        return "the store's chain is not recorded yet (the first backfill or watch records it)"
    if stored != here:
        raise ChainMismatch(f"the database {store} was filled from {stored}: {_WHAT_TO_DO}")
    return "the chain the store was filled from"


def _check_unrecorded_fills(conn, rpc: GovernedRpc, store: str) -> None:
    oldest = chain_identity_repo.oldest_fill_block(conn)
    if oldest is None:
        return
    number, block_hash = oldest
    block = rpc.get_block(number)
    if block is None or block.hash != block_hash:
        theirs = "has no such block" if block is None else f"has {block.hash[:10]}… there"
        raise ChainMismatch(
            f"the database {store} holds fills of block {number} ({block_hash[:10]}…), but "
            f"the chain POLYGON_RPC_URL serves {theirs}: {_WHAT_TO_DO}"
        )
