"""The console script as a user runs it: real processes, real database, real devnet."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from polygon_pipeline_tests.helpers.cli import cli_env, run_cli
from polygon_pipeline_tests.helpers.sync import one_store


@pytest.fixture
def db_env(db_url) -> dict[str, str]:
    return {"POLYGON_PIPELINE_DB_URL": db_url}


@one_store
def test_leaders_round_trip(db_env, tmp_path):
    a, b = "0x" + "AB" * 20, "0x" + "cd" * 20
    assert run_cli("leaders", "add", a, b, env=db_env).returncode == 0
    listing = run_cli("leaders", "list", env=db_env)
    assert listing.stdout.split() == sorted([a.lower(), b])
    bad = run_cli("leaders", "add", "0x" + "ef" * 20, "0xBAD", env=db_env)
    assert bad.returncode == 1 and "0xBAD" in bad.stderr and "Traceback" not in bad.stderr
    file = tmp_path / "leaders.txt"
    file.write_text(f"# mine\n{'0x' + '12' * 20}\n{b}\n")
    imported = run_cli("leaders", "import", str(file), env=db_env)
    assert imported.returncode == 0 and "1 new" in imported.stdout
    file.write_text(f"{'0x' + '34' * 20}\nnot-an-address\n")
    refused = run_cli("leaders", "import", str(file), env=db_env)
    assert refused.returncode == 1 and "line 2" in refused.stderr
    assert run_cli("leaders", "remove", a, env=db_env).returncode == 0
    assert run_cli("leaders", "list", env=db_env).stdout.split() == sorted(["0x" + "12" * 20, b])


@one_store
def test_a_reader_that_goes_away_stops_the_command_quietly(db_env):
    """`polygon-pipeline leaders list | head -1` with many leaders: SIGPIPE's exit status and
    nothing on stderr, as other Unix tools (it said `Error: [Errno 32] Broken pipe`)."""
    leaders = [f"0x{n:040x}" for n in range(1, 3001)]
    assert run_cli("leaders", "add", *leaders, env=db_env).returncode == 0
    listing = subprocess.Popen(
        [sys.executable, "-m", "polygon_pipeline", "leaders", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(db_env),
    )
    assert listing.stdout.readline().strip() == leaders[0].encode()  # `head -1`
    listing.stdout.close()
    _, err = listing.communicate(timeout=120)
    assert (listing.returncode, err.decode()) == (141, "")


@one_store
def test_doctor_passes_against_the_devnet(devnet, db_env):
    env = {**db_env, "POLYGON_RPC_URL": devnet.rpc_url, "POLYGON_WS_URL": devnet.ws_url}
    run_cli("leaders", "add", devnet.info()["leaders"][0], env=env)
    out = run_cli("doctor", env=env)
    assert out.returncode == 0, out.stdout
    assert [line.split()[:2] for line in out.stdout.splitlines()] == [
        ["ok", "config"],
        ["ok", "db"],
        ["ok", "limiter"],
        ["ok", "rpc"],
        ["ok", "ws"],
    ]
    key = devnet.rpc_url.rsplit("/", 1)[1]
    assert key not in out.stdout + out.stderr


def test_doctor_names_each_problem_without_leaking_keys(tmp_path):
    key = "SECRETKEY0123456789"
    env = {
        "POLYGON_RPC_URL": f"http://127.0.0.1:9/v2/{key}",
        "POLYGON_WS_URL": f"ws://127.0.0.1:9/v2/{key}",
        "POLYGON_PIPELINE_DB_URL": "postgresql://app:hunter2@127.0.0.1:9/none",
    }
    out = run_cli("doctor", env=env)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["ok", "config"],
        ["FAIL", "db"],
        ["FAIL", "limiter"],
        ["FAIL", "rpc"],
        ["FAIL", "ws"],
    ]
    assert key not in out.stdout + out.stderr and "hunter2" not in out.stdout + out.stderr


def test_doctor_reports_bad_config(tmp_path):
    out = run_cli("doctor", env={"POLYGON_WS_URL": "http://wrong.example/x"})
    assert out.returncode == 1
    assert out.stdout.startswith("FAIL config: POLYGON_WS_URL: must be a ws:// or wss:// URL")


def test_devnet_truth_export(devnet, tmp_path):
    devnet.mine(blocks=1, fills_per_block=3)
    out_file = tmp_path / "truth.jsonl"
    result = run_cli(
        "devnet", "truth", "--state-dir", str(devnet.state_dir), "--out", str(out_file), env={}
    )
    assert result.returncode == 0, result.stderr
    assert len(out_file.read_text().splitlines()) == len(devnet.truth())


@one_store
def test_backfill_beyond_the_finalized_head_says_where_it_stopped(devnet, db_env):
    env = devnet.pipeline_env(db_env["POLYGON_PIPELINE_DB_URL"])
    run_cli("leaders", "add", *devnet.info()["leaders"], env=env)
    head = devnet.mine(blocks=40, fills_per_block=2)["head"]
    finalized = head - 16  # the devnet's finality depth
    first, asked = finalized - 10, head + 5
    out = run_cli("backfill", "--from-block", str(first), "--to-block", str(asked), env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert f"blocks {first}..{finalized} " in lines[-2]
    assert lines[-1].startswith(
        f"stopped at the finalized head, block {finalized} (asked for {asked})"
    )
    assert "--since-cursor" in lines[-1]
    within = run_cli("backfill", "--from-block", str(first), "--to-block", str(finalized), env=env)
    assert within.returncode == 0 and "stopped at" not in within.stdout


@one_store
def test_backfill_from_beyond_the_finalized_head_says_so(devnet, db_env):
    """It exited 0 with a summary of `blocks N..M (0 blocks)`, M below N, and nothing else."""
    env = devnet.pipeline_env(db_env["POLYGON_PIPELINE_DB_URL"])
    run_cli("leaders", "add", *devnet.info()["leaders"], env=env)
    finalized = devnet.mine(blocks=20)["head"] - 16  # the devnet's finality depth
    first = finalized + 5
    out = run_cli("backfill", "--from-block", str(first), env=env)
    assert out.returncode == 0, out.stderr  # as when --to-block is past the head: not an error
    assert out.stdout.strip().splitlines()[-1] == (
        f"nothing reconciled: --from-block {first} is beyond the finalized head, block "
        f"{finalized}; rerun once it is final, or run `polygon-pipeline watch` for live fills"
    )
    assert "reconciled ctf" not in out.stdout  # no summary of an empty range
    assert devnet.stats()["calls"].get("eth_getLogs", 0) == 0


def test_four_processes_starting_on_one_empty_database(devnet, db_url):
    """The schema is created once, under a lock: no process fails on a table another one is
    creating (each used to crash with DuplicateTable or `table fills already exists`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYGON_")}
    env.update(devnet.pipeline_env(db_url))
    a, b = "0x" + "a1" * 20, "0x" + "b2" * 20
    commands = [("leaders", "add", a), ("leaders", "add", b), *[("api-poll", "--once")] * 2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "polygon_pipeline", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in commands
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, outputs
    listing = run_cli("leaders", "list", env={"POLYGON_PIPELINE_DB_URL": db_url})
    assert listing.stdout.split() == [a, b]
