"""Settings.from_env: defaults, aliases, parsing, and errors that name the variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from continuum.config import (
    Address,
    ConfigError,
    Settings,
    known_variables,
    parse_address,
    settings_table,
)

ROOT = Path(__file__).resolve().parents[2]

DEFAULTS: dict[str, Any] = {
    "region": "",
    "kubeconfig": "",
    "region_contexts": {},
    "watch_namespaces": (),
    "role_reassert": True,
    "nats_url": "",
    "audit_subject": "catalyst.audit",
    "audit_stream": "CATALYST_AUDIT",
    "audit_outbox_limit": 10000,
    "audit_outbox_namespace": "",
    "audit_required": False,
    "pdm_url": "",
    "api_advertise_url": "",
    "pod_ip": "",
    "pdm_token": "",
    "powerdns_api_url": "",
    "powerdns_api_key": "",
    "powerdns_server_id": "localhost",
    "dns_writer": "pdm",
    "health_vantages": ("8.8.8.8", "1.1.1.1", "9.9.9.9"),
    "health_probe_timeout": 3.0,
    "dns_verify_servers": (),
    "health_delay_seconds": 30.0,
    "api_addr": Address("", 8082),
    "api_token": "",
    "api_body_limit_bytes": 65536,
    "metrics_addr": Address("", 8080),
    "log_level": "info",
    "log_format": "json",
    "leader_election": True,
    "sharding": False,
    "leader_lease_name": "continuum-controller.openova.io",
    "leader_lease_namespace": "",
    "leader_lease_seconds": 15.0,
    "leader_renew_deadline": 10.0,
    "shard_settle_seconds": 2.5,
    "lease_safety_margin_seconds": 5.0,
    "witness_secret_namespace": "catalyst-controllers",
    "witness_context": "",
    "witness_lease_namespace": "",
    "witness_in_memory": False,
    "cluster_domain": "cluster.local",
    "shutdown_timeout_seconds": 20.0,
}

#: field -> (a valid raw value, what it parses to)
SAMPLES: dict[str, tuple[str, Any]] = {
    "region": ("region-b", "region-b"),
    "kubeconfig": ("/etc/continuum/kubeconfig", "/etc/continuum/kubeconfig"),
    "region_contexts": ("a=ctx-a, b = ctx-b", {"a": "ctx-a", "b": "ctx-b"}),
    "watch_namespaces": ("acme, finance", ("acme", "finance")),
    "role_reassert": ("off", False),
    "nats_url": ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
    "audit_subject": ("audit.dr", "audit.dr"),
    "audit_stream": ("DR_AUDIT", "DR_AUDIT"),
    "audit_outbox_limit": ("50", 50),
    "audit_outbox_namespace": ("ops", "ops"),
    "audit_required": ("yes", True),
    "pdm_url": ("http://pdm.svc:8080", "http://pdm.svc:8080"),
    "api_advertise_url": ("http://10.244.1.7:8082", "http://10.244.1.7:8082"),
    "pod_ip": ("10.244.1.7", "10.244.1.7"),
    "pdm_token": ("t0k", "t0k"),
    "powerdns_api_url": ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
    "powerdns_api_key": ("k3y", "k3y"),
    "powerdns_server_id": ("ns1", "ns1"),
    "dns_writer": ("powerdns", "powerdns"),
    "health_vantages": ("127.0.0.1:5300,127.0.0.2", ("127.0.0.1:5300", "127.0.0.2")),
    "health_probe_timeout": ("0.5", 0.5),
    "dns_verify_servers": ("127.0.0.1:5300,127.0.0.2", ("127.0.0.1:5300", "127.0.0.2")),
    "health_delay_seconds": ("0", 0.0),
    "api_addr": ("127.0.0.1:18082", Address("127.0.0.1", 18082)),
    "api_token": ("bearer-x", "bearer-x"),
    "api_body_limit_bytes": ("1024", 1024),
    "metrics_addr": (":9090", Address("", 9090)),
    "log_level": ("debug", "debug"),
    "log_format": ("console", "console"),
    "leader_election": ("false", False),
    "sharding": ("on", True),
    "leader_lease_name": ("leader", "leader"),
    "leader_lease_namespace": ("ops", "ops"),
    "leader_lease_seconds": ("20", 20.0),
    "leader_renew_deadline": ("5", 5.0),
    "shard_settle_seconds": ("0", 0.0),
    "lease_safety_margin_seconds": ("2.5", 2.5),
    "witness_secret_namespace": ("secrets", "secrets"),
    "witness_context": ("third-site", "third-site"),
    "witness_lease_namespace": ("leases", "leases"),
    "witness_in_memory": ("1", True),
    "cluster_domain": ("corp.local", "corp.local"),
    "shutdown_timeout_seconds": ("7", 7.0),
}

#: (variable, bad value)
BAD: list[tuple[str, str]] = [
    ("CONTINUUM_REGION", "Region_A"),
    ("CONTINUUM_REGION_CONTEXTS", "a"),
    ("CONTINUUM_REGION_CONTEXTS", "Bad_Region=ctx"),
    ("CONTINUUM_WATCH_NAMESPACES", "Acme"),
    ("CONTINUUM_NATS_URL", "127.0.0.1:4222"),
    ("CONTINUUM_AUDIT_OUTBOX_LIMIT", "0"),
    ("CONTINUUM_AUDIT_OUTBOX_LIMIT", "many"),
    ("CONTINUUM_AUDIT_REQUIRED", "perhaps"),
    ("CONTINUUM_PDM_URL", "pdm.svc"),
    ("CONTINUUM_API_ADVERTISE_URL", "10.244.1.7:8082"),
    ("CONTINUUM_POWERDNS_API_URL", "ftp://x"),
    ("CONTINUUM_DNS_WRITER", "route53"),
    ("CONTINUUM_HEALTH_VANTAGES", "8.8.8.8,dns.google"),
    ("CONTINUUM_HEALTH_PROBE_TIMEOUT", "0"),
    ("CONTINUUM_DNS_VERIFY_SERVERS", "ns1.example.com"),
    ("CONTINUUM_HEALTH_DELAY_SECONDS", "-1"),
    ("CONTINUUM_HEALTH_DELAY_SECONDS", "30s"),
    ("CONTINUUM_API_ADDR", "8082"),
    ("CONTINUUM_API_ADDR", ":99999"),
    ("CONTINUUM_API_BODY_LIMIT_BYTES", "1e3"),
    ("CONTINUUM_METRICS_ADDR", "localhost"),
    ("CONTINUUM_LOG_LEVEL", "verbose"),
    ("CONTINUUM_LOG_FORMAT", "xml"),
    ("CONTINUUM_LEADER_ELECTION", "2"),
    ("CONTINUUM_SHARDING", "maybe"),
    ("CONTINUUM_ROLE_REASSERT", "sometimes"),
    ("CONTINUUM_LEADER_LEASE_SECONDS", "nan"),
    ("CONTINUUM_LEADER_RENEW_DEADLINE", "0"),
    ("CONTINUUM_SHARD_SETTLE_SECONDS", "-1"),
    ("CONTINUUM_LEASE_SAFETY_MARGIN_SECONDS", "-3"),
    ("CONTINUUM_WITNESS_IN_MEMORY", "enabled"),
    ("CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS", "inf"),
]

FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def test_every_field_has_a_default_and_a_sample_in_this_suite() -> None:
    assert set(DEFAULTS) == set(FIELDS) == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_of(name: str) -> None:
    assert getattr(Settings.from_env({}), name) == DEFAULTS[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_continuum_variable_sets(name: str) -> None:
    raw, expected = SAMPLES[name]
    env = {FIELDS[name].metadata["env"]: raw}
    if name == "leader_lease_seconds":
        env["CONTINUUM_LEADER_RENEW_DEADLINE"] = "5"
    assert getattr(Settings.from_env(env), name) == expected


ALIASED = sorted((f.name, a) for f in FIELDS.values() for a in f.metadata["aliases"])


@pytest.mark.parametrize(("name", "alias"), ALIASED, ids=[a for _, a in ALIASED])
def test_reference_alias_is_accepted(name: str, alias: str) -> None:
    raw, expected = SAMPLES[name]
    assert getattr(Settings.from_env({alias: raw}), name) == expected


def test_the_reference_aliases_include_the_documented_names() -> None:
    names = known_variables()
    for alias in (
        "CATALYST_REGION",
        "NATS_URL",
        "PDM_API_URL",
        "PDM_AUTH_TOKEN",
        "LOG_LEVEL",
        "LEADER_ELECT",
        "LEADER_ELECT_NS",
        "WITNESS_SECRET_NS",
        "CATALYST_LEASE_NS",
        "METRICS_ADDR",
        "WITNESS_IN_MEMORY",
        "KUBECONFIG",
    ):
        assert alias in names


def test_continuum_name_wins_over_its_alias() -> None:
    env = {"CONTINUUM_NATS_URL": "nats://a:4222", "NATS_URL": "nats://b:4222"}
    assert Settings.from_env(env).nats_url == "nats://a:4222"


@pytest.mark.parametrize(("variable", "value"), BAD, ids=[f"{v}={x}" for v, x in BAD])
def test_bad_value_error_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_bad_alias_value_error_names_the_alias_actually_set() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"LOG_LEVEL": "loud"})
    assert caught.value.variable == "LOG_LEVEL"


def test_empty_value_counts_as_unset_except_for_addresses() -> None:
    settings = Settings.from_env(
        {"CONTINUUM_AUDIT_OUTBOX_LIMIT": "", "CONTINUUM_API_ADDR": "", "METRICS_ADDR": " "}
    )
    assert settings.audit_outbox_limit == 10000
    assert settings.api_addr is None
    assert settings.metrics_addr is None


def test_health_delay_zero_means_at_once() -> None:
    assert Settings.from_env({"CONTINUUM_HEALTH_DELAY_SECONDS": "0"}).health_delay_seconds == 0


def test_renew_deadline_must_be_below_lease_duration() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"CONTINUUM_LEADER_LEASE_SECONDS": "10"})
    assert caught.value.variable == "CONTINUUM_LEADER_RENEW_DEADLINE"


def test_shard_settle_must_be_below_lease_duration() -> None:
    env = {"CONTINUUM_SHARD_SETTLE_SECONDS": "15"}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == "CONTINUUM_SHARD_SETTLE_SECONDS"
    assert (
        Settings.from_env({**env, "CONTINUUM_LEADER_LEASE_SECONDS": "20"}).shard_settle_seconds
        == 15
    )


def test_run_requires_a_region_and_a_url_for_the_chosen_dns_writer() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}).require_for_run()
    assert caught.value.variable == "CONTINUUM_REGION"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {"CONTINUUM_REGION": "region-a", "CONTINUUM_DNS_WRITER": "powerdns"}
        ).require_for_run()
    assert caught.value.variable == "CONTINUUM_POWERDNS_API_URL"
    Settings.from_env({"CONTINUUM_REGION": "region-a"}).require_for_run()


def test_secrets_never_appear_in_repr() -> None:
    settings = Settings.from_env(
        {
            "CONTINUUM_API_TOKEN": "tok-123",
            "PDM_AUTH_TOKEN": "pdm-456",
            "CONTINUUM_POWERDNS_API_KEY": "k-789",
        }
    )
    text = repr(settings)
    for secret in ("tok-123", "pdm-456", "k-789"):
        assert secret not in text


def test_settings_are_immutable() -> None:
    settings = Settings.from_env({"CONTINUUM_REGION_CONTEXTS": "a=x"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.region = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.region_contexts["a"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8082", Address("", 8082)),
        ("0.0.0.0:80", Address("0.0.0.0", 80)),
        ("localhost:1", Address("localhost", 1)),
        ("[::1]:9090", Address("::1", 9090)),
    ],
)
def test_addresses_parse_host_port_forms(text: str, expected: Address) -> None:
    assert parse_address(text) == expected
    assert str(parse_address(text)) == text


def test_configuration_doc_is_the_generated_table() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert settings_table() in doc
    for name in known_variables():
        assert f"`{name}`" in doc
