"""The console script run as a user runs it: a real process with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None):
    """`polygon-pipeline ARGS` in a child process with only `env`'s POLYGON_* variables."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POLYGON_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        input=stdin,
    )
