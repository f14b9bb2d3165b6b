"""Two candidates racing for an absent Lease: the API server's create is the arbiter."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.leader.elector import LeaderElector
from continuum_sim.kube import KubeEmulator
from tests.leader.leader_harness import NAMESPACE, Election, lease_spec, wait_for

pytestmark = pytest.mark.anyio


async def test_two_candidates_racing_for_an_absent_lease_exactly_one_wins(
    tmp_path: Path,
) -> None:
    server_clock = FakeClock()  # holds both reads until both have seen "absent"
    clock = FakeClock()
    async with (
        KubeEmulator(region="a", clock=server_clock, namespaces=(NAMESPACE,)) as kube,
        anyio.create_task_group() as tg,
    ):
        election = Election(kube, tmp_path, tg)
        a = await election.elector("a", clock)
        b = await election.elector("b", clock)
        held = kube.faults.delay(method="GET", resource="leases", seconds=1.0, count=2)
        results: dict[str, bool] = {}

        async def attempt(elector: LeaderElector) -> None:
            results[elector.identity] = await elector.try_acquire_or_renew()

        tg.start_soon(attempt, a)
        tg.start_soon(attempt, b)
        await wait_for(lambda: held.hits == 2)
        server_clock.advance(1.0)
        await wait_for(lambda: len(results) == 2)
        await election.aclose()

    assert sorted(results.values()) == [False, True]
    winner = "a" if results["a"] else "b"
    assert lease_spec(kube)["holderIdentity"] == winner
    creates = kube.requests.matching(verb="create", resource="leases")
    assert sorted(r.status for r in creates) == [201, 409]
    assert kube.requests.matching(verb="update", resource="leases") == []
