"""Changing a devnet component's settings at run time through its control API."""

from __future__ import annotations

from dataclasses import fields


def apply_changes(settings: object, changes: dict, what: str) -> None:
    """Set the given fields of a settings dataclass, refusing unknown names so that a typo in
    a test or a curl command fails loudly instead of being ignored."""
    known = {f.name for f in fields(settings)}
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown {what} setting(s): {', '.join(sorted(unknown))}")
    for key, value in changes.items():
        setattr(settings, key, value)
