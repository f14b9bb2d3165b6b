"""An unplanned failover on real PostgreSQL while a client writes, and the old primary's
return without a new base backup.

Region A is lost (its controller dies, its database is killed — no shutdown checkpoint — and
its API stops answering). Region B's instance fails over (``autoFailover``: after the lease
expired and N unreachable observations). The writes A acknowledged but had not shipped are
lost, and only those: every lost write is one of A's last acknowledged writes, past what B
had replayed when it was promoted. Nothing is accepted by a demoted region. When A answers
again, its Cluster still says primary (the failover could not write to it): B's instance
demotes it, and A rejoins as B's standby through ``pg_rewind`` — its own history forked from
B's at the promotion — not through a new base backup.

Timing is real (ttl 10 s, renew 2 s, N = 3); the test polls the servers with bounded
deadlines. About 30 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from continuum_sim.pginstance import lsn_int
from continuum_sim.stack import SimStack, StackSpec
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import check, read_final
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, last_switchover

pytestmark = pytest.mark.anyio

# one write's WAL (insert + commit records): the LSN a write reads before its commit record
# can be below the fork point although the commit itself is past it
ONE_WRITE = 1024


async def test_failover_loses_only_unshipped_writes_and_a_returns_by_rewind(
    tmp_path: Path,
) -> None:
    spec = StackSpec(
        drain_seconds=0,
        auto_failover=True,
        auto_failover_observations=3,
        ttl_seconds=10,
        renew_seconds=2,
        real_postgres=True,
        cnpg_delay=0.0,
    )
    async with SimStack(tmp_path, spec=spec) as stack, controllers(stack) as run:
        assert stack.databases is not None
        workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)
        async with workload.running():
            await eventually(lambda: (stack.continuum_status(B).get("leaseHolder") or "") == A)
            await workload.wait_acks(50)
            run.stop(A)
            await stack.cnpg.set_unreachable(A)
            stack.emulators[A].faults.fail(status=503, count=None)
            await eventually(
                lambda: last_switchover(stack, B).get("result") == "Succeeded",
                timeout=40,
                what="failover to B",
            )
            await eventually(lambda: workload.acks[-1].region == B, what="writes on B")
            await workload.wait_acks(20)

            stack.emulators[A].faults.clear()
            await stack.cnpg.set_unreachable(A, False)
            await eventually(
                lambda: stack.acting_primaries() == [B], timeout=30, what="A demoted by B"
            )
            await eventually(
                lambda: any(r.instance == A for r in stack.databases.rewinds),  # type: ignore[union-attr]
                timeout=30,
                what="A rewound",
            )
            await eventually(
                lambda: stack.cluster(A).get("status", {}).get("timelineID") == 2,
                what="A follows B's timeline",
            )
            state = await stack.databases.state(A)
            await workload.wait_acks(20)
        final = await read_final(stack.databases.dsns()[B])

    assert state.in_recovery
    promoted = [t for t in stack.databases.transitions if t.kind == "promoted"]
    assert [(t.region, t.timeline) for t in promoted] == [(B, 2)]
    fork = lsn_int(promoted[0].lsn)
    report = check(workload.acks, final, stack.databases.transitions, sent=workload.sent)
    print(report.summary())
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report
    a_acks = [a for a in workload.acks if a.region == A]
    lost = set(report.lost)
    # only a suffix of A's acknowledged writes is lost, and each was past the fork point
    assert [a.seq for a in a_acks if a.seq in lost] == [a.seq for a in a_acks][
        len(a_acks) - len(lost) :
    ]
    assert all(lsn_int(a.lsn) + ONE_WRITE > fork for a in a_acks if a.seq in lost), report
    rewind = next(r for r in stack.databases.rewinds if r.instance == A)
    assert rewind.source == B
    assert rewind.timeline == 1
    assert lsn_int(rewind.diverged_at) == fork  # it rewound A's own writes past the fork
