"""deploy/'s systemd units are valid and agree with each other, with the workspace they
serve and with pyproject's code location: a port or a name changed in one file and not in
the others fails here, not on a server."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest
import yaml

from polygon_pipeline_tests.helpers.dagster_dev import DAGSTER_BIN, ROOT
from polygon_pipeline_tests.helpers.deploy import (
    DEPLOY,
    INSTALL_DIR,
    UNITS,
    unit_command,
    unit_settings,
)

SERVICES = ["code-server", "webserver", "daemon", "watcher"]
CODE_SERVER_UNIT = "polygon-pipeline-code-server.service"


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_as_its_user_with_the_shared_settings_and_restarts(name):
    unit = unit_settings(name)
    assert unit["User"] == ["polygon-pipeline"] and unit["WorkingDirectory"]
    assert unit["EnvironmentFile"] == ["/etc/polygon-pipeline.env"]
    assert unit["Restart"] == ["always"]
    assert unit["ExecStart"][0].startswith(f"{INSTALL_DIR}/.venv/bin/")


@pytest.mark.parametrize("name", SERVICES)
def test_each_unit_verifies(tmp_path, name):
    """systemd's own check, on the unit as installed at this checkout."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here")
    text = (UNITS / f"polygon-pipeline-{name}.service").read_text()
    text = text.replace(f"{INSTALL_DIR}/.venv/bin", str(DAGSTER_BIN)).replace(
        INSTALL_DIR, str(ROOT)
    )
    unit = tmp_path / f"polygon-pipeline-{name}.service"
    unit.write_text(text)
    out = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_the_code_server_serves_the_location_the_workspace_names():
    (entry,) = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    server = entry["grpc_server"]
    code_server = unit_command("code-server")
    assert code_server[1:3] == ["code-server", "start"]
    assert _option(code_server, "-p") == str(server["port"])
    assert _option(code_server, "-h") == server["host"]
    # the same name and module as a bare `dagster dev` and workspace.yaml
    dagster = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert _option(code_server, "--location-name") == server["location_name"]
    assert server["location_name"] == dagster["code_location_name"]
    assert _option(code_server, "-m") == dagster["module_name"]
    # the webserver and the daemon load that workspace, once the code server serves
    for name in ("webserver", "daemon"):
        assert _option(unit_command(name), "-w") == str(DEPLOY / "workspace.yaml")
        assert CODE_SERVER_UNIT in " ".join(unit_settings(name)["After"])
    (ready,) = unit_settings("code-server")["ExecStartPost"]
    assert f"grpc-health-check -h {server['host']} -p {server['port']}" in ready
