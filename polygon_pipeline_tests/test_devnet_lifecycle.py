"""`devnet up` / `devnet stop` as real processes: nothing stray is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from polygon_pipeline.devnet.handle import start_devnet
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.processes import wait_gone as _wait_gone


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _stop_command(state_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "devnet", "stop", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stop_command_stops_everything(tmp_path):
    handle = start_devnet(tmp_path / "dn")
    anvil_pids = _children(handle.proc.pid)
    assert anvil_pids, "anvil should run as a child of the devnet"
    out = _stop_command(tmp_path / "dn")
    assert out.returncode == 0, out.stderr
    assert handle.proc.wait(timeout=10) == 0
    assert all(_wait_gone(pid) for pid in anvil_pids)
    assert not (tmp_path / "dn" / "env").exists() and not (tmp_path / "dn" / "pid").exists()
    again = _stop_command(tmp_path / "dn")
    assert again.returncode == 1 and "no devnet is running" in again.stderr


def test_anvil_dies_with_a_killed_devnet(tmp_path):
    handle = start_devnet(tmp_path / "dn")
    anvil_pids = _children(handle.proc.pid)
    handle.proc.send_signal(signal.SIGKILL)
    handle.proc.wait(timeout=10)
    assert anvil_pids and all(_wait_gone(pid) for pid in anvil_pids)


def test_a_bad_layout_plan_is_refused_before_anything_starts(tmp_path):
    result = run_cli(
        "devnet", "up", "--state-dir", str(tmp_path / "dn"), "--layout-blocks", "v9=50", env={}
    )
    assert result.returncode == 2
    assert "--layout-blocks: unknown layout 'v9' (layouts: v1, v2" in result.stderr
    assert not (tmp_path / "dn").exists()  # no anvil, no state
