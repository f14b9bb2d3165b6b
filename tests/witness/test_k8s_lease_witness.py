"""k8s-lease specifics against the Kubernetes emulator: object naming, the Lease
fields other tools read, and merging (not dropping) foreign annotations and labels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from witness_harness import LEASE_NAMESPACE, K8sLeaseEnv, open_backend

from continuum.clock import FakeClock
from continuum.errors import WitnessNamespaceMissing
from continuum.ports import WitnessWriteProbe
from continuum.witness.k8s_lease import K8sLeaseWitness, lease_object_name, open_k8s_lease

pytestmark = pytest.mark.anyio

SLOT = "acme/shop-dr"


@pytest.fixture
async def env(tmp_path: Path, clock: FakeClock) -> AsyncIterator[K8sLeaseEnv]:
    async with open_backend("k8s-lease", tmp_path=tmp_path, clock=clock) as backend:
        assert isinstance(backend, K8sLeaseEnv)
        yield backend


@pytest.fixture
async def coordination(env: K8sLeaseEnv) -> AsyncIterator[k8s.CoordinationV1Api]:
    api_client = await k8s_config.new_client_from_config(
        config_file=str(env.kubeconfig), context="witness-site"
    )
    try:
        yield k8s.CoordinationV1Api(api_client)
    finally:
        await api_client.close()


def test_object_names_never_collide_and_fit_253_characters() -> None:
    assert lease_object_name("a-b/c") != lease_object_name("a/b-c")
    assert lease_object_name("cnpg/dr").startswith("cw-cnpg-dr-")
    long_name = lease_object_name("n" * 63 + "/" + "x" * 253)
    assert len(long_name) <= 253
    assert long_name[-1].isalnum()


async def test_the_lease_object_carries_holder_duration_and_generation(
    env: K8sLeaseEnv, coordination: k8s.CoordinationV1Api
) -> None:
    witness = await env.client()
    lease = await witness.acquire(SLOT, "fsn", 30)
    obj = await coordination.read_namespaced_lease(lease_object_name(SLOT), LEASE_NAMESPACE)
    assert obj.spec.holder_identity == "fsn"
    assert obj.spec.lease_duration_seconds == 30
    assert lease.expires_at is not None
    assert obj.spec.renew_time == lease.expires_at - timedelta(seconds=30)
    assert obj.metadata.annotations["dr.openova.io/generation"] == "1"
    assert obj.metadata.annotations["dr.openova.io/slot"] == SLOT
    assert obj.metadata.labels["openova.io/witness"] == "k8s-lease"


async def test_foreign_annotations_and_labels_survive_renew_and_release(
    env: K8sLeaseEnv, coordination: k8s.CoordinationV1Api
) -> None:
    witness = await env.client()
    lease = await witness.acquire(SLOT, "fsn", 30)
    name = lease_object_name(SLOT)
    await coordination.patch_namespaced_lease(
        name,
        LEASE_NAMESPACE,
        {"metadata": {"annotations": {"team/owner": "db"}, "labels": {"tier": "gold"}}},
    )
    lease = await witness.renew(lease)
    await witness.release(lease)
    obj = await coordination.read_namespaced_lease(name, LEASE_NAMESPACE)
    assert obj.metadata.annotations["team/owner"] == "db"
    assert obj.metadata.labels["tier"] == "gold"
    assert obj.spec.holder_identity is None
    assert obj.metadata.annotations["dr.openova.io/generation"] == "3"


async def _in_namespace(env: K8sLeaseEnv, namespace: str) -> K8sLeaseWitness:
    witness = await open_k8s_lease(
        kubeconfig=str(env.kubeconfig),
        context="witness-site",
        namespace=namespace,
        clock=env.clock,
        timeout=2.0,
    )
    env.keep(witness)
    return witness


async def test_a_missing_namespace_is_its_own_error_not_a_lost_race(env: K8sLeaseEnv) -> None:
    witness = await _in_namespace(env, "no-such-ns")
    before = len(env.kube.requests.writes())
    with pytest.raises(WitnessNamespaceMissing, match='namespace "no-such-ns" does not exist'):
        await witness.acquire(SLOT, "fsn", 30)
    # One create was refused; it was not retried as if a compare-and-set had been lost.
    assert len(env.kube.requests.writes()) - before == 1


async def test_the_write_probe_names_a_missing_namespace_and_never_writes(
    env: K8sLeaseEnv, coordination: k8s.CoordinationV1Api
) -> None:
    missing = await _in_namespace(env, "no-such-ns")
    with pytest.raises(WitnessNamespaceMissing):
        await missing.probe_write(SLOT)
    present = await env.client()
    assert isinstance(present, WitnessWriteProbe)
    await present.probe_write(SLOT)  # absent slot: a dry-run create is accepted
    leases = await coordination.list_namespaced_lease(LEASE_NAMESPACE)
    assert leases.items == []
    lease = await present.acquire(SLOT, "fsn", 30)
    await present.probe_write(SLOT)  # existing slot: a dry-run replace is accepted
    assert await present.read(SLOT) == lease
