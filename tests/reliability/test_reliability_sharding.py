"""Sharding with real processes: three ``continuum run`` replicas of one region share 24 CRs;
one is SIGKILLed while renewing, its CRs renew again on the survivors within one witness TTL
(the region never loses a lease) and no CR is ever run by two replicas; a fourth joins and
takes only its share. Observed from outside only (``tests/reliability/sharding.py``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig
from continuum_sim.nats import NatsServer
from continuum_sim.sharding import (
    MEMBER_TTL,
    NAMESPACE,
    REGION,
    WITNESS_RENEW,
    WITNESS_TTL,
    Replica,
    cr_body,
    observing,
    until,
)

pytestmark = pytest.mark.anyio

CRS = 24


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.timeout(240)
async def test_sigkilled_replica_is_taken_over_within_one_ttl_and_no_cr_runs_twice(
    tmp_path: Path,
) -> None:
    nats_server = NatsServer(tmp_path / "nats")
    await nats_server.start()
    replicas: dict[str, Replica] = {}
    try:
        async with KubeEmulator(region=REGION, crd_paths=bundled_crd_paths()) as kube:
            kube.ensure_namespace(NAMESPACE)
            # region-b (the CRs' standby) only needs a context: the stateless CRs never call it.
            kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {REGION: kube, "region-b": kube})
            for index in range(CRS):
                kube.apply(cr_body(index, nats_server.url))
            keys = {f"{NAMESPACE}/cr-{i:04d}" for i in range(CRS)}
            for name in ("r1", "r2", "r3"):
                replicas[name] = Replica(name, tmp_path, kubeconfig)
            async with observing(nats_server.url, replicas) as seen:
                for replica in replicas.values():
                    await replica.start()

                def partitioned(names: set[str]) -> bool:
                    if not seen.rounds or set(seen.rounds[-1]) != names:
                        return False
                    if not all(seen.rounds[-1].values()):
                        return False  # a replica still waiting for its share
                    owners = seen.owners()
                    return set(owners) == keys and all(len(w) == 1 for w in owners.values())

                await until(lambda: partitioned({"r1", "r2", "r3"}), timeout=60, what="a split")

                # SIGKILL r2 while everything renews.
                orphaned = set(seen.rounds[-1]["r2"])
                killed_at = time.time()
                replicas["r2"].kill()
                await until(lambda: partitioned({"r1", "r3"}), timeout=60, what="a takeover")
                await until(
                    lambda: all(seen.first_write_after(k, killed_at) for k in orphaned),
                    timeout=WITNESS_TTL,
                    what="the orphaned CRs renewing",
                )
                takeover = max(
                    (seen.first_write_after(k, killed_at) or 0.0) - killed_at for k in orphaned
                )

                # A fourth replica joins: only its share moves, all of it to the joiner.
                before = seen.owners()
                replicas["r4"] = Replica("r4", tmp_path, kubeconfig)
                await replicas["r4"].start()
                await until(lambda: partitioned({"r1", "r3", "r4"}), timeout=60, what="a join")
                after = seen.owners()
                moved = [k for k in keys if before[k] != after[k]]
                assert all(after[k] == ["r4"] for k in moved)
                for name in ("r1", "r3", "r4"):
                    await replicas[name].terminate()
    finally:
        for replica in replicas.values():
            replica.kill()
        await nats_server.stop()

    assert not seen.doubles, seen.doubles
    # The witness lease of every CR was renewed at least once per TTL throughout: the region
    # never lost a CR's writer role to the kill.
    gaps = {k: seen.longest_gap(k) for k in keys}
    assert max(gaps.values()) < WITNESS_TTL, gaps
    assert takeover < WITNESS_TTL
    print(
        f"\nsharding: crs={CRS} replicas=3 killed=r2 orphaned={len(orphaned)} "
        f"takeover_s={takeover:.2f} (member TTL {MEMBER_TTL}s, witness TTL {WITNESS_TTL}s, "
        f"renew {WITNESS_RENEW}s) longest_renew_gap_s={max(gaps.values()):.2f} "
        f"joined_moved={len(moved)}/{CRS} rounds={len(seen.rounds)} doubles=0"
    )
