"""The console script run as a user runs it: a real process with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Runs the console script once per command line of argv[1] (JSON) in one process, then writes
# each one's exit status and the names of every module the process imported (sys.modules) as
# JSON to argv[2].
_RUN_AND_LIST_MODULES = """
import json, sys
from polygon_pipeline.cli import cli
statuses = []
for args in json.loads(sys.argv[1]):
    try:
        cli.main(args=args, prog_name="polygon-pipeline")
    except SystemExit as exc:
        statuses.append(exc.code or 0)
with open(sys.argv[2], "w") as out:
    json.dump({"statuses": statuses, "modules": sorted(sys.modules)}, out)
"""


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its POLYGON_* variables, plus `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("POLYGON_")}
    full_env.update(env)
    return full_env


def run_cli(*args: str, env: dict[str, str], stdin: str | None = None):
    """`polygon-pipeline ARGS` in a child process with only `env`'s POLYGON_* variables."""
    return subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", *args],
        capture_output=True,
        text=True,
        env=cli_env(env),
        timeout=120,
        input=stdin,
    )


@dataclass(frozen=True)
class Imports:
    statuses: list[int]  # each command line's exit status
    packages: set[str]  # the top-level packages imported by the time all had run


def packages_imported_by(
    command_lines: list[list[str]], *, env: dict[str, str], listing: Path
) -> Imports:
    """Run `polygon-pipeline ARGS` for each ARGS in `command_lines`, in turn, in one child
    process; what it imported (`listing`: a scratch file for the child's answer)."""
    subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, json.dumps(command_lines), str(listing)],
        capture_output=True,
        env=cli_env(env),
        timeout=120,
        check=True,
    )
    found = json.loads(listing.read_text())
    return Imports(found["statuses"], {name.partition(".")[0] for name in found["modules"]})
