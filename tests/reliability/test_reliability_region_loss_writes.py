"""Region loss on real PostgreSQL while a client writes (issue 15): what the writes lose.

The writer's region is lost: its controller (a ``continuum run`` subprocess) is SIGKILLed, its
PostgreSQL postmaster is SIGKILLed (no shutdown checkpoint) and its Kubernetes API answers
every request 503. The other region's instance fails over (``autoFailover``: lease TTL 6 s,
2 unreachable observations). Then the lost region returns: its Cluster still says primary (the
failover could not write to it), the writer's instance demotes it, the demotion rewinds it
(``pg_rewind``: its history forked at the promotion) and it streams from the new primary.

On loopback the standby is a few milliseconds behind, so a plain loss rarely loses anything.
A loss **with lag** first holds replication back (the lost region's WAL sender is SIGSTOPped,
as a slow link would), lets 30 more writes be acknowledged, reads the last LSN the standby
received (frozen from then on) and only then loses the region (the stopped WAL sender is
SIGKILLed after its postmaster, so it never ships what it held back).

Asserted, from the writer's acknowledgements, the final primary's rows and the role
transitions the CNPG operator carried out (``continuum_sim.writecheck``), for every loss and
both for the fork point (what the survivor had replayed when promoted) and, with lag, for the
LSN the standby had received at the loss:

* lost ⊆ lag: every lost write was acknowledged by the lost region before it was lost and
  was not yet received by the survivor — the next write acknowledged after it read a WAL
  position past the boundary (a write reads its LSN before its commit record is written);
* lag ⊆ lost: every write acknowledged at or past the boundary is lost (with lag: at least
  the 29 writes acknowledged after the first one the held-back sender did not ship);
* 0 split-brain writes (none acknowledged by the lost region after the loss, none by a
  demoted region), no timeline anomaly;
* the lost region rejoins by rewind (never a new base backup) and the pair settles on one
  writer, the survivor, with every invariant of the suite held throughout.

Printed per loss: the lag at the loss (bytes, writes, milliseconds), the acknowledged writes
lost, the write pause (last acknowledged write before the loss to the first on the survivor).

CI loses region A with lag, then region B without (the second failover goes back into the
region that was lost and rejoined); about 45 s. ``CONTINUUM_RELIABILITY_FULL=1`` loses the
writer's region 6 times back and forth, alternately with and without lag
(``CONTINUUM_RELIABILITY_ITERATIONS`` overrides).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from continuum_sim.pginstance import lsn_int
from continuum_sim.stack import SimStack
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import Ack, Transition, check, read_final
from tests.e2e.conftest import eventually
from tests.e2e.helpers import A
from tests.reliability.harness import (
    ControllerProcess,
    InvariantChecker,
    checking,
    other,
    reliability_spec,
    running_controllers,
    wait_settled,
)

pytestmark = pytest.mark.anyio

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
LOSSES = int(os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "6" if FULL else "2"))
HELD_WRITES = 30
"""Writes acknowledged while replication is held back, before a loss with lag."""


@dataclass(frozen=True)
class Loss:
    """One region loss: the lost region, its ``lost`` transition, the survivor's promotion
    (its LSN is the fork point) and the acknowledgements up to the first one on the
    survivor."""

    region: str
    lost: Transition
    promoted: Transition
    acks: tuple[Ack, ...]
    """From the first write of the lost region's term as the writer to the first write on
    the survivor."""
    pause: float
    """Longest gap between acknowledgements around the loss, seconds."""
    received: int | None
    """With lag: the last LSN the standby had received when the region was lost."""

    @property
    def fork(self) -> int:
        return lsn_int(self.promoted.lsn)

    def mine(self) -> list[Ack]:
        """The lost region's acknowledged writes of its term as the writer."""
        return [a for a in self.acks if a.region == self.region]

    def at_or_past(self, boundary: int) -> list[Ack]:
        """The lost region's writes acknowledged at or past WAL position ``boundary``: their
        commit records are past it (a write reads its LSN before its commit is written)."""
        return [a for a in self.mine() if lsn_int(a.lsn) >= boundary]

    def shipped_before(self, ack: Ack, boundary: int) -> bool:
        """Whether ``ack``'s commit is provably at or before ``boundary``: the next write of
        the same region read an LSN at or before it (that LSN is past ``ack``'s commit)."""
        later = [a for a in self.mine() if a.seq > ack.seq]
        return bool(later) and lsn_int(later[0].lsn) <= boundary

    def lag(self) -> tuple[int, int, float]:
        """The replication lag at the loss: bytes of WAL the lost region had acknowledged
        past what the standby had (received, with lag; else replayed when promoted), the
        writes acknowledged at or past it, and how long before the loss the newest write
        before it was acknowledged (ms)."""
        boundary = self.fork if self.received is None else self.received
        mine = self.mine()
        before = [a.acked for a in mine if lsn_int(a.lsn) < boundary]
        return (
            max(0, lsn_int(mine[-1].lsn) - boundary),
            len(self.at_or_past(boundary)),
            (self.lost.at - max(before)) * 1000 if before else 0.0,
        )

    def assert_bounded(self, lost: set[int]) -> None:
        """lost ⊆ lag ⊆ lost, for the fork point and (with lag) the received LSN."""
        mine = self.mine()
        assert all(a.acked <= self.lost.at for a in mine), "acknowledged after the loss"
        mine_lost = [a for a in mine if a.seq in lost]
        for boundary in (self.fork, self.received):
            if boundary is None:
                continue
            past = {a.seq for a in self.at_or_past(boundary)}
            assert past <= lost, (self.region, boundary, sorted(past - lost)[:5])
            shipped = [a.seq for a in mine_lost if self.shipped_before(a, boundary)]
            assert shipped == [], (self.region, boundary, shipped[:5])


async def _lose(
    stack: SimStack,
    procs: dict[str, ControllerProcess],
    checker: InvariantChecker,
    workload: WriteWorkload,
    writer: str,
    since: int,
    *,
    lag: bool,
) -> tuple[Loss, int]:
    """Lose ``writer``'s region while writing (its term as the writer began at
    ``workload.acks[since]``); return once the survivor writes and the lost region streams
    from it again, with the index of the survivor's first write. ``lag``: hold replication
    back for :data:`HELD_WRITES` acknowledged writes first (see the module docstring)."""
    assert stack.databases is not None
    databases = stack.databases
    survivor = other(writer)
    await workload.wait_acks(50)
    start = len(workload.acks)
    promoted_before = sum(1 for t in databases.transitions if t.kind == "promoted")
    senders: list[int] = []
    received: int | None = None
    if lag:
        senders = list(
            await databases.instance(writer).fetchval(
                "SELECT coalesce(array_agg(pid), '{}') FROM pg_stat_replication"
            )
        )
        assert senders, f"{writer} ships WAL to nobody"
        for pid in senders:
            os.kill(pid, signal.SIGSTOP)
        await workload.wait_acks(HELD_WRITES)
        received = lsn_int(
            await databases.instance(survivor).fetchval("SELECT pg_last_wal_receive_lsn()::text")
        )
    # nobody, the checker included, sees the lost region's Cluster until it answers again
    checker.blind.add(writer)
    await procs[writer].kill()
    await stack.cnpg.set_unreachable(writer)
    for pid in senders:
        # after its postmaster: a sender that dies first makes the postmaster restart
        os.kill(pid, signal.SIGKILL)
    stack.emulators[writer].faults.fail(status=503, count=None)
    await eventually(
        lambda: sum(1 for t in databases.transitions if t.kind == "promoted") > promoted_before,
        timeout=40,
        what=f"{survivor} promoted",
    )
    await eventually(lambda: workload.acks[-1].region == survivor, what=f"writes on {survivor}")
    first_on_survivor = next(
        i for i in range(start, len(workload.acks)) if workload.acks[i].region == survivor
    )
    window = tuple(workload.acks[since : first_on_survivor + 1])
    pause = check(workload.acks[start - 1 : first_on_survivor + 1], {}, []).pause
    lost = [t for t in databases.transitions if t.kind == "lost" and t.region == writer][-1]
    promoted = [t for t in databases.transitions if t.kind == "promoted"][-1]
    assert promoted.region == survivor

    # the region returns: demoted by the survivor's instance, rewound, streaming
    rewinds = len(databases.rewinds)
    stack.emulators[writer].faults.clear()
    await stack.cnpg.set_unreachable(writer, False)
    await procs[writer].start()
    await eventually(
        lambda: stack.acting_primaries() == [survivor], timeout=30, what=f"{writer} demoted"
    )
    checker.blind.discard(writer)
    await eventually(
        lambda: any(r.instance == writer for r in databases.rewinds[rewinds:]),
        timeout=30,
        what=f"{writer} rewound",
    )

    async def streaming() -> bool:
        mine, theirs = await databases.state(writer), await databases.state(survivor)
        return mine.ready and mine.in_recovery and mine.timeline == theirs.timeline

    await eventually(streaming, timeout=30, what=f"{writer} streams from {survivor}")
    assert await wait_settled(stack, procs, timeout=40) == survivor
    loss = Loss(
        region=writer, lost=lost, promoted=promoted, acks=window, pause=pause, received=received
    )
    return loss, first_on_survivor


@pytest.mark.timeout(60 + 60 * LOSSES)
async def test_region_loss_loses_only_writes_within_the_lag_and_the_region_rejoins(
    tmp_path: Path,
) -> None:
    spec = reliability_spec(auto_failover=True, real_postgres=True)
    losses: list[Loss] = []
    async with SimStack(tmp_path, spec=spec) as stack:
        assert stack.databases is not None
        workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            async with workload.running():
                writer = await wait_settled(stack, procs)
                assert writer == A
                since = 0
                for i in range(LOSSES):
                    loss, since = await _lose(
                        stack, procs, checker, workload, writer, since, lag=i % 2 == 0
                    )
                    losses.append(loss)
                    writer = other(writer)
                await workload.wait_acks(20)
            final = await read_final(stack.databases.dsns()[writer])
        transitions = list(stack.databases.transitions)
        rewound = [(r.instance, r.diverged_at) for r in stack.databases.rewinds]
    report = check(workload.acks, final, transitions, sent=workload.sent)
    lost = set(report.lost)
    print(f"\nregion loss with writes: {report.summary()}")
    for loss in losses:
        lag_bytes, lag_writes, lag_ms = loss.lag()
        lost_here = [a for a in loss.mine() if a.seq in lost]
        print(
            f"  {loss.region} lost {'with' if loss.received is not None else 'without'} lag: "
            f"lag at the loss {lag_bytes} B / {lag_writes} writes / {lag_ms:.0f} ms; "
            f"acknowledged writes lost {len(lost_here)}; write pause {loss.pause * 1000:.0f} ms"
        )
        loss.assert_bounded(lost)
        if loss.received is not None:
            assert len(lost_here) >= HELD_WRITES - 1, (len(lost_here), loss.lag())
    assert lost <= {a.seq for loss in losses for a in loss.mine()}, sorted(lost)[:5]
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report
    assert [region for region, _ in rewound] == [loss.region for loss in losses]
    assert all(diverged for _, diverged in rewound), rewound
    assert sum(1 for t in transitions if t.kind == "promoted") == LOSSES
