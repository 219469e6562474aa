"""The Dagster resource hands down the settings read when the definitions load: secrets as
EnvVars (their variables' names, never their values), every other setting as a value."""

from __future__ import annotations

from polygon_pipeline.defs.resources import PipelineResource
from polygon_pipeline.settings import load_settings

KEY = "5e3c0d1b9a7f4e2c8b6a0d9f1e3c5a7b"
ENVIRONMENT = {
    "POLYGON_RPC_URLS": f"https://a.example/v2/{KEY},https://b.example/{KEY}x",
    "POLYGON_WS_URL": f"wss://a.example/ws/{KEY}",
    "POLYGON_PIPELINE_DB_URL": f"postgresql://u:{KEY}@127.0.0.1/db",
    "POLYGON_RPC_MAX_RPS": "12.5",
    "POLYGON_PARTITIONS_START_BLOCK": "1000",
    "POLYGON_VERIFY_BLOCK_HASHES": "false",
}


def _environment(monkeypatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def test_secrets_are_named_and_the_rest_handed_down(monkeypatch):
    _environment(monkeypatch)
    resource = PipelineResource.from_settings(load_settings())
    assert (resource.rpc_urls, resource.ws_url, resource.db_url) == (
        "POLYGON_RPC_URLS",
        "POLYGON_WS_URL",
        "POLYGON_PIPELINE_DB_URL",
    )
    assert resource.rpc_url is None and resource.data_api_url is None  # unset: left unset
    assert resource.tuning == {
        "rpc_max_rps": 12.5,
        "partitions_start_block": 1000,
        "verify_block_hashes": False,
    }
    assert KEY not in repr(resource)


def test_a_step_gets_the_settings_that_were_loaded(monkeypatch):
    _environment(monkeypatch)
    loaded = load_settings()
    resource = PipelineResource.from_settings(loaded)
    monkeypatch.setenv("POLYGON_RPC_MAX_RPS", "3")  # tuning is handed down, not read again
    assert resource.process_config_and_initialize().settings() == loaded
