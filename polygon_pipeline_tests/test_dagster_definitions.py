"""The Dagster code location loads and validates as `dagster dev` would load it, under one
name however it is started, shows its secrets by their variables' names only, and both
instance files (the repository's and deploy/'s, for a server) agree on everything but
storage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "target",
    [["-w", str(ROOT / "workspace.yaml")], []],
    ids=["workspace.yaml", "pyproject (a bare `dagster dev`)"],
)
def test_definitions_validate_as_one_location(tmp_path, target):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", *target],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path)},
    )
    logs = out.stdout + out.stderr
    assert out.returncode == 0, logs
    # sensor cursors and schedules are stored per location name: one name everywhere
    names = re.findall(r"Validation successful for code location ([\w.]+)\.", logs)
    assert names == ["polygon_pipeline"], logs
    assert "All code locations passed validation" in logs


# What the code server sends the UI about the location (its resources' configured values
# included), loaded in a process of its own from an environment holding secrets.
SNAPSHOT = """
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster_shared.serdes import serialize_value
from polygon_pipeline.defs import defs
print(serialize_value(RepositorySnap.from_def(defs.get_repository_def())))
"""


def test_the_ui_shows_secrets_by_name_only(tmp_path):
    key = "9d2f7b4c1e8a6035d7c9b1f2e4a6c8d0"
    secrets = {
        "POLYGON_RPC_URL": f"https://rpc.example/v2/{key}",
        "POLYGON_WS_URL": f"wss://rpc.example/ws/{key}",
        "POLYGON_PIPELINE_DB_URL": f"postgresql://pipeline:{key}@127.0.0.1/none",
    }
    out = subprocess.run(
        [sys.executable, "-c", SNAPSHOT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), **secrets},
    )
    assert out.returncode == 0, out.stderr
    assert all(f'{{\\"env\\": \\"{name}\\"}}' in out.stdout for name in secrets), out.stdout
    assert key not in out.stdout + out.stderr


def test_instance_files_differ_only_in_storage():
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    production = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert "storage" in production and "storage" not in local
    production.pop("storage")
    assert production == local
