"""When a leader must stop: renew calls that hang or fail past the renew deadline, another
holder in the Lease, and the process-level exit code."""

from __future__ import annotations

import anyio
import pytest
from structlog.testing import capture_logs

from continuum.clock import FakeClock
from continuum.leader.elector import (
    LEADERSHIP_LOST_EXIT_CODE,
    LeadershipLost,
    run_as_leader,
)
from continuum_sim.kube import KubeEmulator
from tests.leader.leader_harness import LEASE, NAMESPACE, Election, lease_spec, wait_for

pytestmark = pytest.mark.anyio


async def test_hanging_renew_call_loses_leadership_exactly_at_the_renew_deadline(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    await election.advance(clock, 10)  # two renewals
    last_renew = a.elector.statistics().last_renew
    assert last_renew == clock.monotonic()

    hang = kube.faults.hang(method="PUT", resource="leases", count=None)
    clock.advance(5)  # the next renew is sent, and hangs
    await wait_for(lambda: hang.hits == 1)
    clock.advance(4.99)
    await anyio.wait_all_tasks_blocked()
    assert a.is_leader
    assert not a.body_cancelled

    clock.advance(0.01)
    await wait_for(lambda: a.lost is not None)
    assert clock.monotonic() - last_renew == pytest.approx(a.elector.renew_deadline)
    assert not a.is_leader
    assert a.body_cancelled
    assert "renew-deadline-passed" in str(a.lost)


async def test_failing_renew_calls_lose_leadership_at_the_renew_deadline(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    acquired = clock.monotonic()
    kube.faults.fail(method="PUT", resource="leases", status=500, count=None)

    await election.advance(clock, 9.9)
    assert a.is_leader
    failed = a.elector.statistics().failures
    assert failed == 2  # at +5 and, half a retry period later, at +7.5

    await election.advance(clock, 0.1)
    assert a.lost is not None
    assert not a.is_leader
    assert clock.monotonic() - acquired == pytest.approx(10.0)


async def test_one_failed_renew_within_the_deadline_keeps_leadership(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    kube.faults.fail(method="PUT", resource="leases", status=503, count=1)

    await election.advance(clock, 60)

    assert a.is_leader
    assert a.lost is None
    assert a.elector.statistics().failures == 1


async def test_leader_steps_down_at_once_when_the_lease_names_another_holder(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    stored = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, LEASE)
    assert stored is not None
    kube.apply({**stored, "spec": {**stored["spec"], "holderIdentity": "intruder"}})

    await election.advance(clock, a.elector.retry_period)

    assert a.lost is not None
    assert "held-by-other" in str(a.lost)
    assert a.body_cancelled
    assert lease_spec(kube)["holderIdentity"] == "intruder"  # a lost leader never releases


async def test_run_as_leader_cancels_main_and_returns_the_lost_exit_code(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    elector = await election.elector("a", clock)
    main_cancelled = anyio.Event()
    codes: list[int] = []

    async def main() -> int:
        try:
            await anyio.sleep_forever()
        finally:
            main_cancelled.set()
        return 0

    async def run() -> None:
        codes.append(await run_as_leader(elector, main))

    election.tg.start_soon(run)
    await wait_for(lambda: elector.is_leader)
    kube.faults.fail(method="PUT", resource="leases", status=500, count=None)
    while not codes:
        await anyio.wait_all_tasks_blocked()
        clock.advance(2.5)
        await wait_for(lambda: not elector.statistics().in_flight)

    assert codes == [LEADERSHIP_LOST_EXIT_CODE]
    assert main_cancelled.is_set()


async def test_run_as_leader_returns_mains_exit_code_and_releases(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    elector = await election.elector("a", clock)

    async def main() -> int:
        assert elector.is_leader
        return 7

    assert await run_as_leader(elector, main) == 7
    assert not elector.is_leader
    assert lease_spec(kube)["holderIdentity"] == ""


async def test_exception_in_the_leading_block_propagates_unwrapped_after_release(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    elector = await election.elector("a", clock)

    with pytest.raises(KeyError, match="boom"):
        async with elector.leading():
            raise KeyError("boom")
    assert lease_spec(kube)["holderIdentity"] == ""


async def test_on_change_reports_every_transition_and_logs_name_them(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    changes: list[bool] = []
    elector = await election.elector("a", clock, on_change=changes.append)

    async def lead_while_renewals_fail() -> None:
        async with elector.leading():
            kube.faults.fail(method="PUT", resource="leases", status=500, count=None)
            while True:
                await anyio.wait_all_tasks_blocked()
                clock.advance(2.5)
                await wait_for(lambda: not elector.statistics().in_flight)

    with capture_logs() as logs, pytest.raises(LeadershipLost):
        await lead_while_renewals_fail()

    assert changes == [True, False]
    events = [entry["event"] for entry in logs]
    assert events[0] == "leader_election_started"
    assert "leader_acquired" in events
    assert events.count("leader_renew_failed") == 2
    lost = next(entry for entry in logs if entry["event"] == "leader_lost")
    assert lost["log_level"] == "error"
    assert lost["reason"] == "renew-deadline-passed"
    assert lost["identity"] == "a"
    assert lost["lease"] == f"{NAMESPACE}/{LEASE}"
