"""The API does not wait on the API servers (issue 13, item 5): the observation's reads of
the pair, DNS and every region's route, and the repairs they decide, run in child tasks; the
actor answers reads of its state while they hang, keeps one observation in flight at most,
and never acts on reads that a spec change or a run overtook. Fake time: "answered while
the reads hang" is shown with the clock standing still (no real-time bound is asserted)."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.replies import SwitchoverRefused
from continuum.actors.runtime import ActorRef
from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.commands import SpecObserved
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    StatusRequest,
    SwitchoverRequest,
)
from continuum.messages.status import COND_CONVERGED
from continuum.messages.switchover import DryRunReport, ObjectRef, PairState
from tests.continuum_actor.harness import A, B, Harness, make_cr
from tests.switchover.fakes import FakeClusterPair, FakeRoutes

pytestmark = pytest.mark.anyio

CADENCE = 10.0


class CountingPair(FakeClusterPair):
    """The fake pair, counting ``read_pair`` calls (hung ones included)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def read_pair(self) -> PairState:
        self.reads += 1
        return await super().read_pair()


class GatedRoutes(FakeRoutes):
    """A route copy whose reads wait on ``gate`` while it is set (a slow API server that
    answers in the end, with what it holds then)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: anyio.Event | None = None
        self.waiting = 0

    async def read_weights(self, route: ObjectRef) -> dict[str, int]:
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        return await super().read_weights(route)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock, pair=CountingPair(), routes_b=GatedRoutes())


def condition(h: Harness) -> tuple[str, str]:
    cond = h.status.current.condition(COND_CONVERGED)
    return (cond.status, cond.reason) if cond is not None else ("", "")


def converged_events(h: Harness) -> list[str]:
    return [
        e.reason
        for e in h.sink.events
        if e.type is AuditType.ERROR and e.reason.startswith("converged-")
    ]


async def ask_now(ref: ActorRef) -> ContinuumSummary:
    """Ask for the summary and return the answer, failing the test if it is not answered
    before every task blocks (time stands still meanwhile: the fake clock only moves when
    the test moves it)."""
    answers: list[ContinuumSummary] = []

    async def read_status() -> None:
        answers.append(await ref.ask(StatusRequest()))

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_status)
        await anyio.wait_all_tasks_blocked()
        assert answers, "the status read waited"
        tg.cancel_scope.cancel()
    return answers[0]


async def test_status_is_answered_while_the_pair_and_a_route_read_hang(h: Harness) -> None:
    pair = h.pair
    assert isinstance(pair, CountingPair)
    async with h.actor() as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        assert condition(h) == ("True", "Agrees")
        pair.faults.add("read_pair", hang=True, times=1)
        h.routes_b.faults.add("read_weights", hang=True, times=1)
        reads = pair.reads
        await h.clock.advance_settled(CADENCE - 1)  # the observation is due; its reads hang
        assert pair.reads == reads + 1
        assert actor.observing.busy
        before = h.clock.monotonic()
        summary = await ask_now(ref)
        assert h.clock.monotonic() == before  # answered with no time passing
        assert summary.acting
        assert summary.leaseHolder == A
        assert actor.observing.busy  # ... while the reads still hang
        await h.clock.advance_settled(READ_TIMEOUT)  # each read's own bound
        assert not actor.observing.busy
        assert condition(h) == ("False", "WriterMismatch")  # unreadable: never "agrees"
        assert h.status.current.phase == "Degraded"
        summary = await ask_now(ref)
        assert summary.phase == "Degraded"
        await h.clock.advance_settled(CADENCE)  # the reads answer again
        assert condition(h) == ("True", "Agrees")
    assert converged_events(h) == []


async def test_one_observation_in_flight_a_tick_meanwhile_is_skipped(h: Harness) -> None:
    """Observations every 2 s, the pair read hanging for its 5 s bound: the ticks at 2 s and
    4 s find the observation in flight and start no second read."""
    pair = h.pair
    assert isinstance(pair, CountingPair)
    cr = make_cr(leaseClient={"kind": "in-memory", "config": {"ttlSeconds": 30, "renewSeconds": 2}})
    async with h.actor(cr) as (ref, actor):
        await h.clock.advance_settled(0.5)
        pair.faults.add("read_pair", hang=True, times=1)
        reads = pair.reads
        await h.clock.advance_settled(1.5)  # t=2: the observation starts; its read hangs
        assert pair.reads == reads + 1
        await h.clock.advance_settled(4.9)  # t=6.9: ticks at 4 and 6 were skipped
        assert pair.reads == reads + 1
        assert (await ask_now(ref)).acting
        await h.clock.advance_settled(0.2)  # t=7.1: the read timed out at 7
        assert not actor.observing.busy
        await h.clock.advance_settled(1)  # t=8.1: the next tick observes again
        assert pair.reads == reads + 2


async def test_reads_overtaken_by_a_spec_change_are_reported_but_never_acted_on(
    h: Harness,
) -> None:
    """Region B's route drained, seen by one observation; the next one's read of it is slow,
    and the spec changes meanwhile: that result is not acted on, the one after it is."""
    gated = h.routes_b
    assert isinstance(gated, GatedRoutes)
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await h.clock.advance_settled(1)
        gated.weights = {"shop-" + A: 0, "shop-" + B: 100}
        await h.clock.advance_settled(CADENCE)  # seen once: reported
        assert condition(h) == ("False", "RouteDrained")
        gated.gate = anyio.Event()
        await h.clock.advance_settled(CADENCE)  # seen twice, but the read is out
        assert gated.waiting == 1
        newer = msgspec.structs.replace(
            cr, metadata=msgspec.structs.replace(cr.metadata, generation=2)
        )
        await ref.tell(SpecObserved(continuum=newer))
        await anyio.wait_all_tasks_blocked()
        gate, gated.gate = gated.gate, None
        gate.set()
        await anyio.wait_all_tasks_blocked()
        assert condition(h) == ("False", "RouteDrained")  # reported...
        assert gated.writes == 0  # ...never acted on
        assert converged_events(h) == []
        await h.clock.advance_settled(CADENCE)  # read again under the new spec: converged
        assert gated.writes > 0
        assert converged_events(h) == ["converged-serve-route"]
    assert gated.serving() == {A}


async def test_a_hanging_repair_write_neither_blocks_reads_nor_runs_beside_a_switchover(
    h: Harness,
) -> None:
    """The repair of region B's route hangs on its write. Reads are answered meanwhile; a
    switchover requested meanwhile starts its first step only once that write is over."""
    routes_b = h.routes_b
    cr = make_cr(switchover={"drainSeconds": 0})
    async with h.actor(cr) as (ref, actor):
        await h.clock.advance_settled(1)
        routes_b.weights = {"shop-" + A: 0, "shop-" + B: 100}
        await h.clock.advance_settled(CADENCE)  # seen once
        routes_b.faults.add("shift_to", hang=True, times=1)
        await h.clock.advance_settled(CADENCE)  # seen twice: the repair's write hangs
        assert actor.observing.busy
        assert (await ask_now(ref)).acting
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await anyio.wait_all_tasks_blocked()
        assert actor.running is not None
        assert h.status.journal_steps() == []  # the run waits for the write in flight
        await h.clock.advance_settled(READ_TIMEOUT)  # the write's bound: the run goes on
        assert h.status.journal_steps()
        await h.clock.advance_settled(CADENCE)
    assert converged_events(h) == []  # the write failed; none made beside the run
    assert h.status.current.last_switchover is not None
    assert h.status.current.last_switchover.result == "Succeeded"


async def test_a_dry_run_and_a_switchover_waiting_on_reads_hold_neither_the_mailbox_nor_renewals(
    h: Harness,
) -> None:
    """A DryRun's reads (here of the route, hanging until their 5 s bound) run in a child
    task: the status is answered and the lease renewed (every 2 s) while they wait; the DryRun
    then answers, and so does a switchover request whose own DryRun waits the same."""
    lease = {"kind": "in-memory", "config": {"ttlSeconds": 15, "renewSeconds": 2}}
    got: list[object] = []
    async with h.actor(make_cr(leaseClient=lease)) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()

        async def ask(message: msgspec.Struct) -> None:
            try:
                got.append(await ref.ask(message, timeout=60))
            except SwitchoverRefused as refused:  # the stale fingerprint, once its DryRun is made
                got.append(refused)

        for request in (
            DryRunRequest(toRegion=B),
            SwitchoverRequest(toRegion=B, fingerprint="stale"),
        ):
            h.routes.faults.add("read_weights", hang=True, times=1)
            assert actor.lease_view is not None
            expires = actor.lease_view.expires_at
            answered = len(got)
            async with anyio.create_task_group() as tg:
                tg.start_soon(ask, request)
                await anyio.wait_all_tasks_blocked()
                assert len(got) == answered  # its DryRun waits on the route read
                assert (await ask_now(ref)).acting  # the mailbox answers meanwhile
                await h.clock.advance_settled(2.5)  # a renewal falls due meanwhile
                assert len(got) == answered
                assert actor.lease_view.expires_at > expires  # ... and is made
                await h.clock.advance_settled(3)  # the read's 5 s bound
                assert len(got) == answered + 1
        assert actor.acting()
    report, refused = got
    assert isinstance(report, DryRunReport)
    assert report.blockers == ['step-3: cannot read HTTPRoute "acme/shop": timed out after 5s']
    assert isinstance(refused, SwitchoverRefused)
    assert refused.detail.reason == "fingerprint-mismatch"
