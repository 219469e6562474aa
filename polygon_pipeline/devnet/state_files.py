"""A devnet's state folder: where a running devnet publishes its URLs (env) and its pid, read
by `devnet stop`/`truth`, the demo and DevnetHandle without starting anything."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STATE_DIR = Path(".devnet")


def env_file(state_dir: Path) -> Path:
    return state_dir / "env"


def pid_file(state_dir: Path) -> Path:
    return state_dir / "pid"


def store_file(state_dir: Path) -> Path:
    """The devnet's own pipeline store, published in its env file: a new devnet is a new
    chain, so the store starts empty with it and never mixes with a user's own store."""
    return state_dir / "pipeline.db"


def read_env_file(state_dir: Path) -> dict[str, str]:
    """The variables a running devnet published (KEY=VALUE lines)."""
    pairs = {}
    for line in env_file(state_dir).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs
