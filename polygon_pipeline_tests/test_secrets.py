"""No key reaches an output, a log or an exception, even from a provider that echoes it back:
the devnet's emulator in `echo_key` mode quotes the request's URL and key in gateway pages,
throttle messages, non-JSON-RPC bodies, JSON-RPC errors and 401s. And only secrets are
hidden: a database user or name, or a host, stays readable."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from polygon_pipeline.env_secrets import environment_secrets
from polygon_pipeline.logging_setup import protect_secrets
from polygon_pipeline.redact import scrub
from polygon_pipeline.settings import load_settings
from polygon_pipeline_tests.helpers.cli import run_cli
from polygon_pipeline_tests.helpers.sync import one_store

KEY = "Zk3v9QpL2mX8wR4tY6uB1nC5"
API_KEY = "d41d8cd98f00b204e9800998ecf8427e"


@pytest.fixture
def keyed_settings(monkeypatch):
    for name, value in {
        "POLYGON_RPC_URL": f"https://polygon-mainnet.g.alchemy.com/v2/{KEY}",
        "POLYGON_WS_URL": f"wss://polygon-mainnet.g.alchemy.com/v2/{KEY}",
        "POLYGON_DATA_API_URL": f"https://proxy.example/polymarket?apikey={API_KEY}&v=2",
        "POLYGON_PIPELINE_DB_URL": "postgresql://app:hunter2@db.example:5432/polygon",
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.mark.parametrize(
    "text",
    [
        f"invalid API key '{KEY}'",
        f"POST /v2/{KEY} HTTP/1.1",
        f"url=https%3A%2F%2Fpolygon-mainnet.g.alchemy.com%2Fv2%2F{KEY}",
        f"see wss://polygon-mainnet.g.alchemy.com/v2/{KEY}/",
        f"apikey {API_KEY} is not allowed",
        "password authentication failed: postgresql://app:hunter2@db.example/polygon",
    ],
)
def test_every_form_of_a_secret_is_scrubbed(keyed_settings, text):
    shown = scrub(text, keyed_settings.secret_values())
    assert KEY not in shown and API_KEY not in shown and "hunter2" not in shown
    assert "***" in shown


@pytest.mark.parametrize(
    "text",
    [
        'FATAL: role "app" does not exist',
        'database "polygon" does not exist',
        "/srv/polygon/app/.data/polygon_pipeline.db",
        "HTTPSConnectionPool(host='polygon-mainnet.g.alchemy.com', port=443)",
    ],
)
def test_only_secrets_are_hidden(keyed_settings, text):
    assert scrub(text, keyed_settings.secret_values()) == text


def test_every_log_record_is_scrubbed_whoever_handles_it(keyed_settings, caplog):
    protect_secrets(keyed_settings.secret_values())
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        log.info("calling %s", keyed_settings.require_rpc_url())
        try:
            raise RuntimeError(f"provider said: bad key {KEY}")
        except RuntimeError:
            log.exception("failed")
    assert KEY not in caplog.text
    assert "https://polygon-mainnet.g.alchemy.com/***" in caplog.text
    assert "provider said: bad key ***" in caplog.text


def test_the_scrubber_before_every_command_knows_the_settings_secrets(keyed_settings, monkeypatch):
    """Set up before settings are read (and before pydantic is imported), it finds what the
    settings would hide: also beside a setting that does not validate, and under a variable
    name in lowercase, which Settings reads too."""
    hidden = set(keyed_settings.secret_values())
    assert set(environment_secrets()) == hidden
    monkeypatch.setenv("POLYGON_RPC_MAX_RPS", "fast")
    monkeypatch.delenv("POLYGON_RPC_URL")
    monkeypatch.setenv("polygon_rpc_url", keyed_settings.require_rpc_url())
    assert set(environment_secrets()) == hidden


# ---- a provider that echoes the key, end to end ---------------------------------------------


@pytest.fixture
def echoing(devnet):
    devnet.configure(echo_key=True)
    devnet.reset_stats()
    return devnet


def _key_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


@one_store
def test_backfill_never_shows_an_echoed_key(echoing, db_url):
    key = _key_of(echoing.rpc_url)
    env = echoing.pipeline_env(db_url)
    out = run_cli("backfill", "-v", "--from-block", "0", "--to-block", "5", env=env)
    assert out.returncode == 1
    assert echoing.stats()["calls"]["eth_chainId"] >= 4  # every kind of echo, then refused
    assert "failed (" in out.stderr and "throttled by" in out.stderr  # the retry lines
    assert out.stderr.strip().splitlines()[-1].startswith("Error: eth_chainId: JSON-RPC error")
    assert key not in out.stdout + out.stderr


UNLIKE_KEYS = [
    "my-team-secret-projkey",  # lowercase words and dashes: it looked like a route word
    "qwertyuiopasdfghjklzxcvbnm",  # 26 lowercase letters: likewise
    "k9X7z2",  # short
]


@one_store
@pytest.mark.parametrize("key", UNLIKE_KEYS)
def test_a_key_that_does_not_look_like_one_is_never_shown(devnet, db_url, key):
    """Whatever a key looks like, a provider echoing it (in every way the emulator knows)
    never gets it into the output or the log lines of a backfill."""
    env = devnet.pipeline_env(db_url)
    for name in ("POLYGON_RPC_URL", "POLYGON_WS_URL"):
        env[name] = f"{env[name].rsplit('/', 1)[0]}/{key}"
    devnet.configure(echo_key=True)
    out = run_cli("backfill", "-v", "--from-block", "0", "--to-block", "5", env=env)
    assert out.returncode == 1
    assert "failed (" in out.stderr and "throttled by" in out.stderr  # logged the echoes
    assert out.stderr.strip().splitlines()[-1].startswith("Error: eth_chainId: JSON-RPC error")
    assert key not in out.stdout + out.stderr


@one_store
def test_doctor_never_shows_an_echoed_key(echoing, db_url):
    key = _key_of(echoing.rpc_url)
    out = run_cli("doctor", env=echoing.pipeline_env(db_url))
    assert out.returncode == 1
    lines = {line.split()[1]: line for line in out.stdout.splitlines() if line.startswith("FAIL")}
    assert set(lines) >= {"rpc", "ws"}
    assert "not a JSON-RPC answer" in lines["ws"]
    assert key not in out.stdout + out.stderr


@one_store
def test_api_poll_never_shows_an_echoed_key(devnet, db_url):
    key = "f3a9c2e7b18d4a6f9e0c5b2a7d8e1f40"
    env = devnet.pipeline_env(db_url)
    env["POLYGON_DATA_API_URL"] = f"{devnet.data_api_url}/{key}"
    run_cli("leaders", "add", devnet.info()["leaders"][0], env=env)
    devnet.data_api(echo_key=True)
    try:
        out = run_cli("api-poll", "--once", env=env)
    finally:
        devnet.data_api(echo_key=False)
    assert out.returncode == 1
    assert "HTTP 401" in out.stderr
    assert key not in out.stdout + out.stderr


@one_store
def test_a_dagster_run_stores_no_echoed_key(echoing, db_url, tmp_path, monkeypatch):
    from dagster import DagsterEventType, DagsterInstance

    from polygon_pipeline.defs.fills.jobs import reconcile_recent_job
    from polygon_pipeline.defs.resources import PipelineResource

    for name, value in echoing.pipeline_env(db_url).items():
        if name.startswith("POLYGON_"):
            monkeypatch.setenv(name, value)
    key = _key_of(echoing.rpc_url)
    home = tmp_path / "dagster"
    home.mkdir()
    with DagsterInstance.local_temp(tempdir=str(home)) as instance:
        result = reconcile_recent_job.execute_in_process(
            instance=instance,
            resources={"pipeline": PipelineResource.from_settings(load_settings())},
            raise_on_error=False,
        )
        assert not result.success
        records = instance.all_logs(result.run_id)
        failure = next(
            r.dagster_event
            for r in records
            if r.dagster_event and r.dagster_event.event_type == DagsterEventType.STEP_FAILURE
        )
        assert "invalid API key '***'" in repr(failure)
        assert all(key not in repr(r) for r in records)
        assert key not in repr(instance.get_run_by_id(result.run_id))
    assert echoing.stats()["calls"]["eth_chainId"] >= 4
    stored = [p for p in Path(home).rglob("*") if p.is_file()]
    assert stored and all(key.encode() not in p.read_bytes() for p in stored)
