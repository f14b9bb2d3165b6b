"""Selecting a witness from ``spec.leaseClient`` kind + config."""

from __future__ import annotations

from pathlib import Path

import pytest

from continuum.clock import FakeClock
from continuum.config import Settings
from continuum.errors import InvalidSpec
from continuum.wiring.witness import WitnessOptions, open_witness
from continuum.witness.memory import MemoryStore
from continuum_sim.cloudflare_worker import WorkerSim
from continuum_sim.nats import NatsServer

pytestmark = pytest.mark.anyio

SLOT = "acme/shop"


async def test_unknown_kind_is_refused_naming_it(clock: FakeClock) -> None:
    with pytest.raises(InvalidSpec, match="not implemented: etcd"):
        await open_witness("etcd", {}, slot=SLOT, options=WitnessOptions(), clock=clock)


async def test_in_memory_is_refused_unless_explicitly_allowed(clock: FakeClock) -> None:
    with pytest.raises(InvalidSpec, match="test-only"):
        await open_witness("in-memory", {}, slot=SLOT, options=WitnessOptions(), clock=clock)


async def test_in_memory_clients_share_one_store(clock: FakeClock) -> None:
    options, store = WitnessOptions(allow_in_memory=True), MemoryStore()
    a = await open_witness(
        "in-memory", {}, slot=SLOT, options=options, clock=clock, memory_store=store
    )
    b = await open_witness(
        "in-memory", {}, slot=SLOT, options=options, clock=clock, memory_store=store
    )
    lease = await a.acquire(SLOT, "fsn", 30)
    assert await b.read(SLOT) == lease


async def test_nats_kv_uses_config_url_and_bucket(tmp_path: Path, clock: FakeClock) -> None:
    async with NatsServer(tmp_path / "nats") as server:
        witness = await open_witness(
            "nats-kv",
            {"url": server.url, "bucket": "dr-leases"},
            slot=SLOT,
            options=WitnessOptions(),
            clock=clock,
        )
        try:
            assert (await witness.acquire(SLOT, "fsn", 30)).generation == 1
        finally:
            await witness.aclose()


async def test_cloudflare_token_is_read_from_the_cr_namespace(clock: FakeClock) -> None:
    asked: list[tuple[str, str, str]] = []

    async def read_secret(namespace: str, name: str, key: str) -> str:
        asked.append((namespace, name, key))
        return " s3cret \n"

    async with WorkerSim(tokens=("s3cret",), clock=clock) as worker:
        witness = await open_witness(
            "cloudflare-kv",
            {"baseURL": worker.url, "tokenSecretRef": {"name": "witness-token"}},
            slot=SLOT,
            options=WitnessOptions(),
            clock=clock,
            secret_reader=read_secret,
        )
        try:
            assert (await witness.acquire(SLOT, "fsn", 30)).holder == "fsn"
        finally:
            await witness.aclose()
    assert asked == [("acme", "witness-token", "token")]


async def test_dns_quorum_without_one_api_per_server_is_invalid(clock: FakeClock) -> None:
    config = {"resolvers": ["127.0.0.1", "127.0.0.2", "127.0.0.3"], "apiKey": "k"}
    with pytest.raises(InvalidSpec) as caught:
        await open_witness("dns-quorum", config, slot=SLOT, options=WitnessOptions(), clock=clock)
    assert caught.value.field == "spec.leaseClient.config.powerdnsAPIs"


def test_options_come_from_the_settings_and_the_lease_namespace_falls_back_to_our_own() -> None:
    settings = Settings.from_env({"CONTINUUM_REGION": "fsn", "CONTINUUM_NATS_URL": "nats://n:4222"})
    options = WitnessOptions.from_settings(settings, own_namespace="dr-system")
    assert options.nats_url == "nats://n:4222"
    assert options.lease_namespace == "dr-system"
    assert not options.allow_in_memory
    named = Settings.from_env(
        {"CONTINUUM_REGION": "fsn", "CONTINUUM_WITNESS_LEASE_NAMESPACE": "leases"}
    )
    assert (
        WitnessOptions.from_settings(named, own_namespace="dr-system").lease_namespace == "leases"
    )
