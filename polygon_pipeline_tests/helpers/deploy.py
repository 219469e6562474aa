"""deploy/ as a server runs it: the systemd units' commands, started as the units start them
(each its own process, on PostgreSQL), on free ports and this checkout's virtual
environment instead of the server's."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url

from polygon_pipeline.devnet.anvil import free_port
from polygon_pipeline_tests.helpers.dagster_dev import (
    DAGSTER_BIN,
    ROOT,
    Webserver,
    start_service,
    stop_service,
)
from polygon_pipeline_tests.helpers.watcher_process import wait_for

DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
# Where the units expect the clone (with its .venv from `make install`).
INSTALL_DIR = "/srv/polygon-pipeline/app"


def unit_settings(name: str) -> dict[str, list[str]]:
    """A unit file's settings, every value of each key in order (`Wants=` may repeat)."""
    settings: dict[str, list[str]] = {}
    for line in (UNITS / f"polygon-pipeline-{name}.service").read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_command(name: str, **options: str) -> list[str]:
    """The unit's ExecStart as this checkout runs it: the program from this virtual
    environment, paths under the install directory from this checkout, and each option in
    `options` (a flag such as `-p`, spelled `p`) given another value."""
    (exec_start,) = unit_settings(name)["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert program.startswith(f"{INSTALL_DIR}/.venv/bin/"), program
    command = [str(DAGSTER_BIN / Path(program).name)]
    for prev, arg in zip(["", *args], args, strict=False):
        flag = prev.lstrip("-")
        if prev.startswith("-") and flag in options:
            arg = options[flag]
        elif arg.startswith(f"{INSTALL_DIR}/"):
            arg = str(ROOT / arg.removeprefix(f"{INSTALL_DIR}/"))
        command.append(arg)
    return command


def dagster_pg_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads, for the database at `url`."""
    pg = make_url(url)
    return {
        "DAGSTER_PG_HOST": pg.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port or 5432),
        "DAGSTER_PG_USER": pg.username or "",
        "DAGSTER_PG_PASSWORD": pg.password or "",
        "DAGSTER_PG_DB": pg.database or "",
    }


class DagsterServices(Webserver):
    """The code server, the webserver and the daemon of deploy/systemd, each its own process
    in its own working directory under `srv`, DAGSTER_HOME holding deploy/dagster.yaml."""

    NAMES = ("code-server", "webserver", "daemon")

    def __init__(self, env: dict[str, str], srv: Path):
        self.grpc_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self.home = Path(env["DAGSTER_HOME"])
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text((DEPLOY / "dagster.yaml").read_text())
        workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
        (server,) = [entry["grpc_server"] for entry in workspace["load_from"]]
        server["port"] = self.grpc_port
        self.workspace = srv / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump(workspace))
        self.location_name = server["location_name"]
        self.logs = {name: srv / f"{name}.log" for name in self.NAMES}
        commands = {
            "code-server": unit_command("code-server", p=str(self.grpc_port)),
            "webserver": unit_command("webserver", p=str(self.port), w=str(self.workspace)),
            "daemon": unit_command("daemon", w=str(self.workspace)),
        }
        self._files = []
        self.procs = {}
        for name in self.NAMES:  # in the units' order: After=polygon-pipeline-code-server
            cwd = srv / name
            cwd.mkdir(parents=True, exist_ok=True)
            log = open(self.logs[name], "ab")  # noqa: SIM115 - closed in stop()
            self._files.append(log)
            self.procs[name] = start_service(commands[name], env, log, cwd)
            if name == "code-server":  # what the unit's ExecStartPost waits for
                wait_for(self.serving, 180, f"the code server ({self.logs[name]})", every=1)

    def serving(self) -> bool:
        check = [str(DAGSTER_BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1"]
        out = subprocess.run([*check, "-p", str(self.grpc_port)], capture_output=True, timeout=60)
        return out.returncode == 0

    def location(self) -> dict | None:
        """The code location as the webserver loaded it: name, status and its metadata."""
        entries = self.query(LOCATIONS)["workspaceOrError"]["locationEntries"]
        return next((e for e in entries if e["name"] == self.location_name), None)

    def stop(self) -> None:
        for name in reversed(self.NAMES):
            stop_service(self.procs[name])
        for log in self._files:
            log.close()

    def output(self) -> str:
        return "\n".join(
            f"--- {name}\n{path.read_text(errors='replace')[-3000:]}"
            for name, path in self.logs.items()
        )


LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus
    displayMetadata { key value }
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }"""
