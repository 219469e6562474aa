"""`dagster dev` as a user starts it, driven through the webserver's GraphQL API exactly as
the UI drives it: what the end-to-end tests and the Dagster backfill benchmark share."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from polygon_pipeline.devnet.anvil import free_port

ROOT = Path(__file__).resolve().parents[2]
DAGSTER_BIN = Path(sys.executable).parent  # dagster, dagster-webserver, dagster-daemon
REPO = {"repositoryLocationName": "polygon_pipeline", "repositoryName": "__repository__"}


class Webserver:
    """A Dagster webserver's GraphQL API at `url`, called as the UI calls it."""

    url: str

    def query(self, text: str, **variables) -> dict:
        resp = requests.post(self.url, json={"query": text, "variables": variables}, timeout=60)
        resp.raise_for_status()
        body = resp.json()
        assert "errors" not in body, body
        return body["data"]

    def ready(self) -> bool:
        try:
            return self.query("{ version }")["version"] is not None
        except (requests.RequestException, AssertionError):
            return False


def start_service(args: list[str], env: dict[str, str], log, cwd: Path) -> subprocess.Popen:
    """A long-running Dagster process in a process group of its own (it starts children: a
    code server's gRPC subprocess and runs, `dagster dev`'s webserver and daemon)."""
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_service(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM to its whole group, then SIGKILL to what is left; each wait bounded."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError):  # children the leader left in the group
        os.killpg(proc.pid, signal.SIGKILL)


class DagsterDev(Webserver):
    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/graphql"
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = start_service(
            [
                str(DAGSTER_BIN / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            env,
            self._log,
            ROOT,
        )

    def stop(self) -> None:
        stop_service(self.proc)
        self._log.close()


ADD_PARTITION = """
mutation($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "block_windows",
                      partitionKey: $key) { __typename }
}"""

LAUNCH_BACKFILL = """
mutation($names: [String!]) {
  launchPartitionBackfill(backfillParams: {
      assetSelection: [{path: ["leader_fills"]}], partitionNames: $names}) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status }
  }
}"""


def cells(windows: list[str], exchanges=None) -> list[str]:
    """The grid keys of these windows on these exchanges (default: every exchange)."""
    from polygon_pipeline.defs.fills.partitions import cell_key
    from polygon_pipeline.sync.windows import EXCHANGE_NAMES

    return [cell_key(x, w) for x in (exchanges or EXCHANGE_NAMES) for w in windows]


def launch_backfill(dev: Webserver, keys: list[str]) -> str:
    """Launch a backfill of `leader_fills` over these grid keys, as the UI's dialog does."""
    launched = dev.query(LAUNCH_BACKFILL, names=keys)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def backfill_status(dev: Webserver, backfill_id: str) -> str | None:
    """The backfill's status once it has ended, else None."""
    status = dev.query(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]["status"]
    return status if status in ("COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED") else None


SENSOR_ID = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) { ... on Sensor { id } }
}"""

STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}"""


def stop_sensor(dev: Webserver, name: str) -> None:
    """Turn a sensor off, as its toggle on the UI's Automation page does."""
    selector = {**REPO, "sensorName": name}
    sensor_id = dev.query(SENSOR_ID, selector=selector)["sensorOrError"]["id"]
    stopped = dev.query(STOP_SENSOR, id=sensor_id)["stopSensor"]
    assert stopped.get("instigationState", {}).get("status") == "STOPPED", stopped


LAUNCH_RANGE_RUN = """
mutation($repo: String!, $start: String!, $end: String!) {
  launchPipelineExecution(executionParams: {
      selector: {repositoryLocationName: $repo, repositoryName: "__repository__",
                 pipelineName: "__ASSET_JOB", assetSelection: [{path: ["leader_fills"]}]},
      mode: "default",
      executionMetadata: {tags: [
        {key: "dagster/asset_partition_range_start", value: $start},
        {key: "dagster/asset_partition_range_end", value: $end}]}}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""

RUN_STATUS = """
query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


def launch_range_run(dev: Webserver, first: str, last: str) -> str:
    """One run over the grid's rectangle first..last (the range tags, as the window sensor's
    runs get them; the UI of Dagster 1.5 and later launches several partitions as a
    backfill)."""
    launched = dev.query(
        LAUNCH_RANGE_RUN, repo=REPO["repositoryLocationName"], start=first, end=last
    )["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def run_status(dev: Webserver, run_id: str) -> str | None:
    """The run's status once it has ended, else None."""
    status = dev.query(RUN_STATUS, id=run_id)["runOrError"]["status"]
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


LAUNCH_JOB = """
mutation($repo: String!, $job: String!) {
  launchPipelineExecution(executionParams: {
      selector: {repositoryLocationName: $repo, repositoryName: "__repository__",
                 pipelineName: $job},
      mode: "default"}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}"""


def launch_job(dev: Webserver, job: str) -> str:
    """One run of an unpartitioned job, as the job page's "Launch run" does."""
    launched = dev.query(LAUNCH_JOB, repo=REPO["repositoryLocationName"], job=job)[
        "launchPipelineExecution"
    ]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]
