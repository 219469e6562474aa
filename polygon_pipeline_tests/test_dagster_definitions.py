"""The Dagster code location loads and validates as `dagster dev` would load it, under one
name however it is started, and both instance files (the repository's and deploy/'s, for a
server) agree on everything but storage."""

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


def test_instance_files_differ_only_in_storage():
    local = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    production = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert "storage" in production and "storage" not in local
    production.pop("storage")
    assert production == local
