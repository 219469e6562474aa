"""How long `polygon-pipeline` takes to start: each command's wall time from spawn to exit
(median of N runs), beside a bare `python -c pass` of the same interpreter. The everyday
commands run for real: on a scratch SQLite store already at the current schema, `doctor`
against a devnet (its checks' calls go over loopback: milliseconds), `windows register` on a
scratch Dagster instance with the project's dagster.yaml. The target (issue 19): `--help`,
`leaders ...`, `doctor` and `windows ...` under 0.5 s.

    .venv/bin/python -m bench.cli_start [--runs 10] [--before DIR]

`--before DIR`: also time the same commands with the package in DIR (an older commit,
unpacked with `git archive`), run from DIR, for a before/after table on one machine at one
load. Runs are interleaved (each round runs every command once) so load drifts hit all
commands alike; the load average is printed: the times are only comparable at one load.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import markdown_table, running_devnet, store_with_leaders

TARGET_S = 0.5
DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"
LEADER = "0x" + "ab" * 20
OPEN_INSTANCE = """
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    instance.get_dynamic_partitions("block_windows")
"""


@dataclass
class Timing:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system


def _timed(argv: list[str], env: dict[str, str], cwd: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one child process, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[3:]} exited {done.returncode}: {done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _commands(leaders_file: Path) -> dict[str, list[str]]:
    """The command lines timed, by the name shown in the table."""
    lines = {
        "--help": ["--help"],
        "leaders --help": ["leaders", "--help"],
        "leaders list --help": ["leaders", "list", "--help"],
        "doctor --help": ["doctor", "--help"],
        "windows register --help": ["windows", "register", "--help"],
        "backfill --help": ["backfill", "--help"],
        "leaders list": ["leaders", "list"],
        "leaders list --stats": ["leaders", "list", "--stats"],
        "leaders add ADDRESS": ["leaders", "add", LEADER],
        "leaders import FILE": ["leaders", "import", str(leaders_file)],
        "leaders remove ADDRESS": ["leaders", "remove", "0x" + "ef" * 20],
        "doctor (against a devnet)": ["doctor"],
        "windows register (to block 99,999)": ["windows", "register", "--to-block=99999"],
    }
    return {name: [sys.executable, "-m", "polygon_pipeline", *args] for name, args in lines.items()}


def _measure(
    commands: dict[str, list[str]], env: dict[str, str], sources: dict[str, Path | None], runs: int
) -> dict[str, dict[str, Timing]]:
    """Per source (this checkout: None), per command: the timings of `runs` interleaved rounds
    after an untimed one (it compiles the bytecode and creates the Dagster instance); the bare
    interpreter under the name `python -c pass`, its import of Dagster alone and with Dagster's
    instance opened."""
    argvs = {
        "python -c pass": [sys.executable, "-c", "pass"],
        # the floor of any command that uses Dagster's Python API (windows register)
        "python -c 'import dagster'": [sys.executable, "-c", "import dagster"],
        # ... and its instance opened and asked for the windows: all of windows register's
        # work but this project's own
        "python: Dagster's instance opened": [sys.executable, "-c", OPEN_INSTANCE],
        **commands,
    }
    found = {src: {name: Timing() for name in argvs} for src in sources}
    for round_ in range(runs + 1):
        for src, cwd in sources.items():
            # From DIR, `python -m polygon_pipeline` imports DIR's package, not the installed one.
            run_env = {**env, "PYTHONPATH": str(cwd)} if cwd else env
            for name, argv in argvs.items():
                wall, cpu = _timed(argv, run_env, cwd)
                if round_:
                    found[src][name].wall.append(wall)
                    found[src][name].cpu.append(cpu)
    return found


def _s(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", type=Path, help="a checkout to time as `before`")
    args = parser.parse_args()
    sources: dict[str, Path | None] = {"after": None}
    if args.before:
        sources = {"before": args.before.resolve(), **sources}
    load_before = os.getloadavg()
    with running_devnet() as devnet, tempfile.TemporaryDirectory(prefix="pp-cli-") as tmp:
        db_url = f"sqlite:///{tmp}/store.db"
        store_with_leaders(db_url, devnet.info()["leaders"]).dispose()  # schema at head
        leaders_file = Path(tmp) / "leaders.txt"
        leaders_file.write_text("\n".join("0x" + f"{i:02x}" * 20 for i in range(50)) + "\n")
        dagster_home = Path(tmp) / "dagster_home"  # set up as `make demo` sets it up
        dagster_home.mkdir()
        shutil.copy(DAGSTER_YAML, dagster_home)
        env = {**devnet.pipeline_env(db_url), "DAGSTER_HOME": str(dagster_home)}
        timings = _measure(_commands(leaders_file), env, sources, args.runs)
    load_after = os.getloadavg()
    after = timings["after"]
    bare = statistics.median(after["python -c pass"].wall)
    header = ["command"]
    header += ["before: median wall"] if args.before else []
    header += ["median wall", "min wall", "median CPU", "less bare python", "under 0.5 s"]
    rows = []
    for name, timing in after.items():
        row: list[object] = [f"`{name}`"]
        if args.before:
            row.append(_s(timings["before"][name].wall))
        median = statistics.median(timing.wall)
        met = "-" if name == "python -c pass" else ("yes" if median < TARGET_S else "no")
        row += [_s(timing.wall), f"{min(timing.wall):.2f} s", _s(timing.cpu)]
        row += [f"{median - bare:+.2f} s", met]
        rows.append(row)
    print(markdown_table(header, rows))
    print(
        f"\n{args.runs} runs each, interleaved; load average (1, 5, 15 min) "
        f"{', '.join(f'{v:.1f}' for v in load_before)} at the start, "
        f"{', '.join(f'{v:.1f}' for v in load_after)} at the end; {os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
