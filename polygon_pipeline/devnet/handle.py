"""A devnet started as a real process and driven through its control API: what tests,
benchmarks and scripts use to run scenarios against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from polygon_pipeline.devnet.state_files import env_file, read_env_file
from polygon_pipeline.lifecycle import die_with_parent


@dataclass
class DevnetHandle:
    proc: subprocess.Popen
    state_dir: Path
    env: dict[str, str]

    @property
    def control_url(self) -> str:
        return self.env["POLYGON_DEVNET_CONTROL_URL"]

    @property
    def rpc_url(self) -> str:
        return self.env["POLYGON_RPC_URL"]

    @property
    def ws_url(self) -> str:
        return self.env["POLYGON_WS_URL"]

    @property
    def provider_urls(self) -> list[str]:
        """Each emulator's base URL (its /_devnet/stats and /_devnet/config), in the order of
        POLYGON_RPC_URLS; one with `devnet up --providers 1`."""
        return self.env.get("POLYGON_DEVNET_PROVIDER_URLS", self.control_url).split(",")

    def provider_stats(self, n: int) -> dict:
        """Provider n's own counters (0: the first)."""
        resp = requests.get(f"{self.provider_urls[n]}/_devnet/stats", timeout=60)
        resp.raise_for_status()
        return resp.json()

    def configure_provider(self, n: int, **policy: object) -> dict:
        """Change provider n's limits and faults alone."""
        resp = requests.post(f"{self.provider_urls[n]}/_devnet/config", json=policy, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def reset_provider_stats(self, n: int) -> dict:
        resp = requests.post(f"{self.provider_urls[n]}/_devnet/stats/reset", timeout=60)
        resp.raise_for_status()
        return resp.json()

    @property
    def anvil_url(self) -> str:
        return self.env["POLYGON_DEVNET_ANVIL_URL"]

    def pipeline_env(self, db_url: str, **settings: object) -> dict[str, str]:
        """An environment for pipeline processes using this devnet and database: this
        process's variables less any POLYGON_* and DAGSTER_HOME, plus `settings` as
        POLYGON_<NAME>."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("POLYGON_") and k != "DAGSTER_HOME"
        }
        env.update(
            {
                "POLYGON_RPC_URL": self.rpc_url,
                "POLYGON_WS_URL": self.ws_url,
                "POLYGON_DATA_API_URL": self.data_api_url,
                "POLYGON_GAMMA_API_URL": self.gamma_api_url,
                "POLYGON_CLOB_API_URL": self.env["POLYGON_CLOB_API_URL"],
                "POLYGON_PIPELINE_DB_URL": db_url,
                "POLYGON_VENUE_BLOCKS": self.env["POLYGON_VENUE_BLOCKS"],
            }
        )
        lists = ("POLYGON_RPC_URLS", "POLYGON_WS_URLS")  # `devnet up --providers 2` on
        env.update({k: v for k, v in self.env.items() if k in lists})
        env.update({f"POLYGON_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    def _post(self, path: str, body: dict | None = None) -> dict:
        resp = requests.post(f"{self.control_url}{path}", json=body or {}, timeout=120)
        resp.raise_for_status()
        return resp.json()

    def _get(self, path: str, **params) -> object:
        resp = requests.get(f"{self.control_url}{path}", params=params, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def mine(self, blocks: int = 1, fills_per_block: int | None = None) -> dict:
        body: dict = {"blocks": blocks}
        if fills_per_block is not None:
            body["fills_per_block"] = fills_per_block
        return self._post("/_devnet/mine", body)

    def info(self) -> dict:
        return self._get("/_devnet/info")

    def head(self) -> int:
        return self.info()["head"]

    def truth(self, from_block: int | None = None, to_block: int | None = None) -> list[dict]:
        params = {
            k: v for k, v in (("from_block", from_block), ("to_block", to_block)) if v is not None
        }
        return self._get("/_devnet/truth", **params)

    def positions(self, to_block: int | None = None) -> dict:
        """{leader: {token id: {size, avg_price, realized_pnl}}}: the positions truth."""
        params = {} if to_block is None else {"to_block": to_block}
        return self._get("/_devnet/positions", **params)

    def stats(self) -> dict:
        return self._get("/_devnet/stats")

    def reset_stats(self) -> dict:
        return self._post("/_devnet/stats/reset")

    def configure(self, **policy) -> dict:
        return self._post("/_devnet/config", policy)

    def set_clock(self, block_time: float | None) -> dict:
        return self._post("/_devnet/clock", {"block_time": block_time})

    def set_generator(self, **changes: object) -> dict:
        return self._post("/_devnet/generator", changes)

    @property
    def data_api_url(self) -> str:
        return self.env["POLYGON_DATA_API_URL"]

    def data_api(self, **changes: object) -> dict:
        """The Data API stand-in's state (config, requests, omitted trades); with keyword
        arguments, change its config first."""
        if changes:
            self._post("/_devnet/data-api", changes)
        return self._get("/_devnet/data-api")

    @property
    def gamma_api_url(self) -> str:
        return self.env["POLYGON_GAMMA_API_URL"]

    def gamma(self, **changes: object) -> dict:
        """The Gamma stand-in's state (config, counters); with keyword arguments, change its
        config first (reset_counters=True zeroes the counters)."""
        if changes:
            self._post("/_devnet/gamma", changes)
        return self._get("/_devnet/gamma")

    def reorg(self, depth: int) -> dict:
        return self._post("/_devnet/reorg", {"depth": depth})

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_devnet(
    state_dir: Path,
    *extra: str,
    timeout: float = 60,
    block_time: float = 0,
    port: int = 0,
    log_to_file: bool = True,
    own_group: bool = False,
) -> DevnetHandle:
    """Start `polygon-pipeline devnet up` as a real process and wait until it serves. By
    default: a free port, manual mining, output in `state_dir/devnet.log`; `own_group`: in a
    process group of its own (stopped as a group, like the demo's other processes)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    env_file(state_dir).unlink(missing_ok=True)
    log = open(state_dir / "devnet.log", "ab") if log_to_file else None  # noqa: SIM115
    command = [
        sys.executable,
        "-m",
        "polygon_pipeline",
        "devnet",
        "up",
        "--port",
        str(port),
        "--block-time",
        str(block_time),
        "--state-dir",
        str(state_dir),
        *extra,
    ]
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=own_group,
        preexec_fn=die_with_parent,  # never outlives whoever started it
    )
    deadline = time.monotonic() + timeout
    while not env_file(state_dir).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            shown = (state_dir / "devnet.log").read_text() if log else "see its output above"
            raise RuntimeError(f"the devnet did not start: {shown}")
        time.sleep(0.1)
    return DevnetHandle(proc, state_dir, read_env_file(state_dir))
