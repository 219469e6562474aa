"""Several providers' settings (POLYGON_RPC_URLS, POLYGON_WS_URLS), their labels, and the
audit's pure choices: windows, the audited share, the auditor."""

from __future__ import annotations

import pytest

from polygon_pipeline.env_secrets import environment_secrets
from polygon_pipeline.redact import provider_labels
from polygon_pipeline.settings import ConfigError, load_settings
from polygon_pipeline.sync.audit import auditor_for, chosen_for_audit, windows_of

A = "https://polygon-mainnet.g.alchemy.com/v2/alchemykey123"
B = "https://rpc.example.org/polygon/otherkey456"


@pytest.fixture
def env(monkeypatch):
    for key in ("POLYGON_RPC_URL", "POLYGON_RPC_URLS", "POLYGON_WS_URL", "POLYGON_WS_URLS"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_a_single_url_is_a_list_of_one_and_a_list_is_read_in_order(env):
    env.setenv("POLYGON_RPC_URL", A)
    assert load_settings().rpc_url_list == [A]
    env.setenv("POLYGON_RPC_URLS", f" {B} , {A}")
    settings = load_settings()
    assert settings.rpc_url_list == [B, A]
    assert settings.require_rpc_url() == B
    assert "otherkey456" not in str(settings.describe())


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            f"{A},{A}",
            "POLYGON_RPC_URLS: entry 2 ('https://polygon-mainnet.g.alchemy.com/***') "
            "repeats entry 1",
        ),
        (f"{A},,{B}", "POLYGON_RPC_URLS: entry 2 is empty"),
        (
            f"{A},ftp://x.org/secretkey789",
            "POLYGON_RPC_URLS: entry 2 must be a http:// or https:// URL, got 'ftp://x.org/***'",
        ),
    ],
)
def test_a_bad_or_repeated_entry_is_refused_in_one_line_without_its_key(env, value, said):
    env.setenv("POLYGON_RPC_URLS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message == said
    assert "alchemykey123" not in message and "secretkey789" not in message


def test_a_single_url_outside_the_list_is_refused(env):
    env.setenv("POLYGON_RPC_URL", A)
    env.setenv("POLYGON_RPC_URLS", B)
    with pytest.raises(ConfigError, match="POLYGON_RPC_URL is not one of POLYGON_RPC_URLS"):
        load_settings()


def test_every_key_of_every_listed_provider_is_a_secret():
    secrets = environment_secrets({"POLYGON_WS_URLS": "wss://a.org/ws/k_one_111,wss://b.org/k_two"})
    assert {"k_one_111", "k_two"} <= set(secrets)


def test_labels_name_the_host_never_the_key():
    labels = provider_labels([A, "https://user:pw@polygon-mainnet.g.alchemy.com/v2/other", B])
    assert labels == [
        "polygon-mainnet.g.alchemy.com",
        "polygon-mainnet.g.alchemy.com#2",
        "rpc.example.org",
    ]


def test_windows_the_share_and_the_auditor():
    assert windows_of(5, 25, 10) == [(5, 9), (10, 19), (20, 25)]
    starts = [(lo, lo + 9) for lo in range(0, 10_000, 10)]
    assert not any(chosen_for_audit(w, 0.0) for w in starts)
    assert all(chosen_for_audit(w, 1.0) for w in starts)
    assert 400 < sum(chosen_for_audit(w, 0.5) for w in starts) < 600
    assert auditor_for(["a"], ["a", "b"]) == "b"
    assert auditor_for(["b"], ["a", "b"]) == "a"
    assert auditor_for(["a", "b"], ["a", "b"]) == "b"  # a failover inside the window
    assert auditor_for(["unknown"], ["a", "b"]) == "a"  # filled before 0007
    assert auditor_for(["a"], ["a"]) is None
