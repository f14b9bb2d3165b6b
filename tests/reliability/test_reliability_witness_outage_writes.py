"""Witness outage on real PostgreSQL while a client writes (issue 15).

nats-server (the witness of both regions) is stopped — SIGTERM, the process gone, the port
closed — while the writer writes, and kept down until every lease renewed before the outage
has lapsed (the outage start + TTL: 6 s here). Then it starts again on the same port with its
store.

* **During writes**: the writer's instance cannot renew; at its lease lapse (``ttl − safety
  margin`` after the last renewal) it fences its own Cluster, which stops its PostgreSQL: the
  writes stop there, before the lease could be taken by anyone. When the witness returns the
  pair converges to one writer and the writes resume on it.
* **Around a switchover**: a switchover is confirmed, and the witness stops ``delay`` seconds
  later (CI: one delay, ``CONTINUUM_RELIABILITY_FULL=1``: from "just accepted" to "already
  finished"). Whatever step it lands on — before the handover (the run cannot hand the lease
  over: compensated), after it — no region acknowledges a write once the outage start + TTL
  has passed, and after the witness returns the run is closed and the pair settles on one
  writer.

Asserted for both, from the writer's acknowledgements, the final primary's rows and the
role transitions (``continuum_sim.writecheck``): 0 acknowledged writes lost, 0 split-brain
writes (none acknowledged by a region after its Cluster was demoted or fenced), no timeline
anomaly; every suite invariant (never two Clusters acting as primary, the lease never taken
while live) held throughout. Printed: when the writer stopped after the outage began, the
write pause, the outcome of the switchover. About 30 s each.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from continuum_sim.stack import SimStack
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import WriteReport, check, read_final
from tests.e2e.conftest import eventually
from tests.e2e.helpers import A, B, last_switchover
from tests.reliability.harness import (
    TTL,
    approve_failback,
    checking,
    reliability_spec,
    running_controllers,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
DELAYS = [0.0, 0.3, 0.6, 1.0, 1.5, 2.5] if FULL else [0.3]
"""Seconds between the switchover's acceptance and the witness stopping."""


async def _lapse(stack: SimStack, outage_at: float) -> None:
    """Return once every lease renewed before ``outage_at`` has lapsed (TTL later)."""
    await eventually(
        lambda: stack.clock.monotonic() > outage_at + TTL + 0.2,
        timeout=TTL + 5,
        what="the lease lapse",
    )


def _assert_no_write_lost_or_split(report: WriteReport) -> None:
    assert report.lost == (), report
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report


async def test_witness_outage_stops_the_writer_at_the_lease_lapse_and_loses_nothing(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=reliability_spec(real_postgres=True)) as stack:
        assert stack.databases is not None
        databases = stack.databases
        workload = WriteWorkload(databases.dsns, clock=stack.clock)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            async with workload.running():
                assert await wait_settled(stack, procs) == A
                await workload.wait_acks(50)
                outage_at = stack.clock.monotonic()
                await stack.nats.stop()
                await eventually(
                    lambda: any(
                        t.kind == "fenced" and t.region == A and t.at > outage_at
                        for t in databases.transitions
                    ),
                    timeout=TTL + 5,
                    what="A fenced itself",
                )
                fence = next(
                    t
                    for t in databases.transitions
                    if t.kind == "fenced" and t.region == A and t.at > outage_at
                )
                await _lapse(stack, outage_at)
                back_at = stack.clock.monotonic()
                written_down = [a for a in workload.acks if a.acked > fence.at]
                last_before = max(a.acked for a in workload.acks if a.acked <= fence.at)
                await stack.nats.start()
                holder = await wait_settled(stack, procs, timeout=60)
                await eventually(
                    lambda: workload.acks[-1].region == holder and workload.acks[-1].sent > back_at,
                    what=f"writes on {holder} after the witness returned",
                )
                await workload.wait_acks(20)
                primaries = stack.acting_primaries()
            final = await read_final(databases.dsns()[holder])
        report = check(workload.acks, final, databases.transitions, sent=workload.sent)
    resumed = min(a.acked for a in workload.acks if a.sent > back_at)
    print(
        f"\nwitness outage during writes: {report.summary()}; A fenced "
        f"{fence.at - outage_at:.2f}s after the outage began (lease lapse at most {TTL}s), "
        f"last write acknowledged {last_before - outage_at:.2f}s after it; writes resumed on "
        f"{holder} {resumed - back_at:.2f}s after the witness returned; "
        f"holders={checker.holders()}"
    )
    _assert_no_write_lost_or_split(report)
    # the writer stops at its lease lapse, before anyone could take the lease, and stays
    # stopped until the witness returns
    assert fence.at - outage_at <= TTL
    assert written_down == [], written_down[:3]
    assert primaries == [holder]


@pytest.mark.parametrize("delay", DELAYS)
async def test_witness_outage_around_a_switchover_loses_no_write(
    tmp_path: Path, delay: float
) -> None:
    async with SimStack(tmp_path, spec=reliability_spec(real_postgres=True)) as stack:
        assert stack.databases is not None
        databases = stack.databases
        approve_failback(stack)
        workload = WriteWorkload(databases.dsns, clock=stack.clock)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            async with workload.running():
                assert await wait_settled(stack, procs) == A
                await workload.wait_acks(50)
                before = len(workload.acks)
                answer = await switch(procs[A], B)
                assert answer.status_code == 202, answer.text
                sid = answer.json()["id"]
                await anyio.sleep(delay)
                outage_at = stack.clock.monotonic()
                await stack.nats.stop()
                await _lapse(stack, outage_at)
                back_at = stack.clock.monotonic()
                after_lapse = [a for a in workload.acks if a.acked > outage_at + TTL]
                await stack.nats.start()
                await eventually(
                    lambda: (
                        sid
                        in (
                            last_switchover(stack, A).get("id"),
                            last_switchover(stack, B).get("id"),
                        )
                    ),
                    timeout=60,
                    what=f"switchover {sid} closed",
                )
                holder = await wait_settled(stack, procs, timeout=60)
                await eventually(
                    lambda: workload.acks[-1].region == holder and workload.acks[-1].sent > back_at,
                    what=f"writes on {holder} after the witness returned",
                )
                await workload.wait_acks(20)
                during = check(workload.acks[before - 1 :], {}, [])
                primaries = stack.acting_primaries()
                result = next(
                    str(s.get("result"))
                    for s in (last_switchover(stack, A), last_switchover(stack, B))
                    if s.get("id") == sid
                )
            final = await read_final(databases.dsns()[holder])
        report = check(workload.acks, final, databases.transitions, sent=workload.sent)
    stopped = max(a.acked for a in workload.acks if a.acked <= back_at) - outage_at
    print(
        f"\nwitness outage {delay}s into a switchover: {report.summary()}; switchover "
        f"{result}, writer {holder}; last write acknowledged {stopped:.2f}s after the outage "
        f"began; write pause {during.pause * 1000:.0f} ms; holders={checker.holders()}"
    )
    _assert_no_write_lost_or_split(report)
    assert after_lapse == [], after_lapse[:3]
    assert primaries == [holder]
