"""Settings are validated with one line per problem, and URLs never leak."""

from __future__ import annotations

import subprocess
import sys

import pytest

from polygon_pipeline.redact import redact_db_url, redact_url, scrub, url_secrets
from polygon_pipeline.settings import ConfigError, load_settings

KEYED = "https://polygon-mainnet.g.alchemy.com/v2/SECRETKEY123"


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("POLYGON_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults(clean_env):
    s = load_settings()
    assert (
        s.backfill_on_startup,
        s.backfill_startup_blocks,
        s.backfill_safety_overlap,
        s.backfill_max_range,
        s.leader_batch_size,
    ) == (False, 50, 20, 500, 100)
    assert s.database_url == "sqlite:///.data/polygon_pipeline.db"


def test_bad_values_name_the_variable(clean_env):
    clean_env.setenv("POLYGON_BACKFILL_MAX_RANGE", "lots")
    clean_env.setenv("POLYGON_LEADER_BATCH_SIZE", "0")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "\n" not in message
    assert "POLYGON_BACKFILL_MAX_RANGE" in message and "'lots'" in message
    assert "POLYGON_LEADER_BATCH_SIZE" in message


def test_bad_url_is_named_but_its_key_is_not_shown(clean_env):
    clean_env.setenv("POLYGON_RPC_URL", "ftp://host.example/v2/SECRETKEY123")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "POLYGON_RPC_URL" in str(err.value)
    assert "SECRETKEY123" not in str(err.value)


def test_secrets_stay_out_of_repr_and_description(clean_env):
    clean_env.setenv("POLYGON_RPC_URL", KEYED)
    clean_env.setenv("POLYGON_PIPELINE_DB_URL", "postgresql://app:hunter2@db.example/fills")
    s = load_settings()
    assert s.require_rpc_url() == KEYED
    for shown in (repr(s), str(s), str(s.describe())):
        assert "SECRETKEY123" not in shown and "hunter2" not in shown
    assert s.describe()["db_url"] == "postgresql://app:***@db.example/fills"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (KEYED, "https://polygon-mainnet.g.alchemy.com/***"),
        ("https://polygon-mainnet.infura.io/v3/abc", "https://polygon-mainnet.infura.io/***"),
        ("https://user:pw@rpc.example:8443", "https://***@rpc.example:8443"),
        ("https://rpc.example/?apikey=abc", "https://rpc.example/***"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("not a url", "***"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_scrub_removes_urls_and_their_paths_from_library_messages():
    message = (
        "HTTPSConnectionPool(host='polygon-mainnet.g.alchemy.com', port=443): Max retries "
        "exceeded with url: /v2/SECRETKEY123 (Caused by ...)"
    )
    assert "SECRETKEY123" not in scrub(message, [KEYED])
    assert "SECRETKEY123" not in scrub(f"bad {KEYED}", [KEYED])
    assert redact_db_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_cli_reports_bad_config_in_one_line(clean_env, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "POLYGON_RPC_MAX_RPS": "-3",
        "POLYGON_PIPELINE_DB_URL": f"sqlite:///{tmp_path}/x.db",
    }
    out = subprocess.run(
        [sys.executable, "-m", "polygon_pipeline", "leaders", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "POLYGON_RPC_MAX_RPS" in lines[0], out.stderr


def test_a_bad_venue_blocks_setting_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("POLYGON_VENUE_BLOCKS", "ctf_v3=1..")
    with pytest.raises(ConfigError, match="POLYGON_VENUE_BLOCKS: unknown venue 'ctf_v3'"):
        load_settings()
    monkeypatch.setenv("POLYGON_VENUE_BLOCKS", "ctf_v2=90..10")
    with pytest.raises(ConfigError, match="last block is before the first"):
        load_settings()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "ctf_v1=0..99,ctf_v2=100..,ctf_v1=0..50",
            "POLYGON_VENUE_BLOCKS: venue 'ctf_v1' is given twice",
        ),
        ("", "POLYGON_VENUE_BLOCKS: is set but empty"),
        (" , ", "POLYGON_VENUE_BLOCKS: is set but empty"),
    ],
)
def test_a_suspicious_venue_override_is_refused(monkeypatch, value, problem):
    """A duplicated venue kept its last window, and an empty override put every venue at
    its mainnet blocks: on the devnet nothing was queried, yet coverage was recorded."""
    monkeypatch.setenv("POLYGON_VENUE_BLOCKS", value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(problem) and "\n" not in str(err.value)


def test_follow_roles(clean_env):
    assert load_settings().follow_roles == "maker,taker"
    clean_env.setenv("POLYGON_FOLLOW_ROLES", " Maker ")
    assert load_settings().follow_positions == (2,)  # the maker topic only
    clean_env.setenv("POLYGON_FOLLOW_ROLES", "taker")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith("POLYGON_FOLLOW_ROLES: must be maker,taker")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("rps", "concurrency", "in_flight"),
    [
        ("5", None, 4),
        ("20", None, 6),
        ("25", None, 8),
        ("100", None, 30),
        ("1000", None, 256),
        ("25", "3", 3),
    ],
)
def test_requests_in_flight_follow_the_rate_unless_set(clean_env, rps, concurrency, in_flight):
    """Unset, POLYGON_RPC_MAX_CONCURRENCY keeps a budget busy at 300 ms answers (Little's
    law), never fewer than 4; set, it is obeyed."""
    clean_env.setenv("POLYGON_RPC_MAX_RPS", rps)
    if concurrency:
        clean_env.setenv("POLYGON_RPC_MAX_CONCURRENCY", concurrency)
    settings = load_settings()
    assert settings.rpc_in_flight == in_flight
    assert settings.describe()["rpc_max_concurrency"] == in_flight


@pytest.mark.parametrize(
    ("shape", "route_words"),
    [
        ("https://polygon-mainnet.g.alchemy.com/v2/{}", ["v2"]),
        ("wss://polygon-mainnet.infura.io/ws/v3/{}", ["ws", "v3"]),
        ("https://rpc.ankr.com/polygon/{}", ["polygon"]),
        ("https://lb.drpc.org/ogrpc?network=polygon&dkey={}", ["ogrpc", "polygon"]),
        ("https://name.matic.quiknode.pro/{}/", []),
    ],
)
@pytest.mark.parametrize("key", ["my-team-secret-projkey", "qwertyuiopasdfghjklzxcvbnm", "k9X7z2"])
def test_every_path_segment_and_query_value_but_route_words_is_a_secret(shape, route_words, key):
    found = url_secrets(shape.format(key))
    assert key in found
    assert not found & set(route_words)


def test_short_secrets_are_hidden_as_whole_tokens_and_tiny_ones_only_in_urls():
    six, two = "https://rpc.ankr.com/polygon/k9X7z2", "https://rpc.example/v2/ab"
    assert scrub("invalid API key 'k9X7z2'.", [six]) == "invalid API key '***'."
    assert scrub("k9X7z2x or xk9X7z2", [six]) == "k9X7z2x or xk9X7z2"  # other tokens
    assert scrub("POST /v2/ab and ?key=ab", [two]) == "POST /v2/*** and ?key=***"
    assert scrub("a tab of abc", [two]) == "a tab of abc"  # a bare `ab` is left alone
