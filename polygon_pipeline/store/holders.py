"""Who holds a shared resource: `host:pid[:tag]`, so a holder on this host that died can be
recognised at once instead of waiting for its lease to run out."""

from __future__ import annotations

import os
import socket


def holder_id(tag: str | None = None) -> str:
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{tag}" if tag else base


def holder_alive(holder: str | None) -> bool:
    """False only for a holder process on this host that no longer exists (killed)."""
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    if host != socket.gethostname():
        return True  # cannot tell from here: its lease expiry decides
    try:
        os.kill(int(rest.partition(":")[0]), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True
