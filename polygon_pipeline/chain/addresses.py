"""Address validation: one place decides what a wallet address is, and stores it lowercase."""

from __future__ import annotations

import re

from polygon_pipeline.quoting import quoted

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class InvalidAddress(ValueError):
    """An input that is not a 20-byte hex address (or has a wrong EIP-55 checksum)."""


def normalize_address(value: str) -> str:
    """Return `value` as a lowercase 0x address, or raise InvalidAddress naming it.

    Mixed-case input must carry a valid EIP-55 checksum: a typo in one character of a
    checksummed address is caught instead of silently following the wrong wallet.
    """
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _HEX_ADDRESS.match(text):
        raise InvalidAddress(
            f"not an address: {quoted(value)} (expected 0x followed by 40 hex digits)"
        )
    body = text[2:]
    if body != body.lower() and body != body.upper() and not _checksum_ok(text):
        raise InvalidAddress(f"bad EIP-55 checksum in address {quoted(value)}")
    return text.lower()


def _checksum_ok(address: str) -> bool:
    # eth_utils is imported only for mixed-case input: it takes longer to import than
    # `leaders add` takes to run.
    from eth_utils import is_checksum_address

    return is_checksum_address(address)


def address_topic(address: str) -> str:
    """The 32-byte topic form of an address (left-padded), as log filters expect."""
    return "0x" + "0" * 24 + normalize_address(address)[2:]
