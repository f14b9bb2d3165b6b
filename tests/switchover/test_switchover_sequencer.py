"""Execute: the seven steps, compensation, fencing, audit, unplanned mode — on fakes."""

from __future__ import annotations

import pytest

from continuum.clock import FakeClock
from continuum.errors import DnsWriteError, Unavailable, WitnessUnavailable
from continuum.messages.audit import AuditType
from continuum.messages.lease import Lease
from continuum.messages.switchover import STEP_ORDER, CnpgMode, StepEvent, StepName
from continuum.switchover.sequencer import Sequencer
from continuum.switchover.steps import Fence
from tests.switchover.fakes import KEY, A, B, World, autojumping, make_world

pytestmark = pytest.mark.anyio

MODES = [CnpgMode.DISTRIBUTED, CnpgMode.REPLICA_FLIP]


async def run(world: World, plan: object = None, **kwargs: object) -> object:
    seq = Sequencer(world.ports(), **kwargs)  # type: ignore[arg-type]
    p = plan if plan is not None else world.plan()
    return await autojumping(world.clock, lambda: seq.execute(p, switchover_id="sw-1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
async def test_switchover_then_failback_moves_every_system_both_ways(mode: CnpgMode) -> None:
    world = await make_world(FakeClock(), mode=mode)
    assert await world.writer() == A
    gen = world.lease.generation

    result = await run(world)
    assert result.ok, result.error
    assert result.steps_completed == STEP_ORDER
    assert await world.writer() == B
    lease = await world.read_lease()
    assert lease.holder == B
    assert lease.generation == gen + 1
    assert result.new_epoch == lease.generation

    world.lease = lease  # B's instance now holds it: roles come from live state
    back = await run(world, world.plan(B, A, reason="failback"))
    assert back.ok, back.error
    assert await world.writer() == A
    assert world.sink.types() == [
        AuditType.SWITCHOVER,
        AuditType.SWITCHOVER,
        AuditType.FAILBACK_COMPLETED,
    ]


async def test_result_times_and_durations_are_set_and_drain_waits_on_the_clock() -> None:
    clock = FakeClock()
    world = await make_world(clock)
    t0 = clock.monotonic()
    result = await run(world, world.plan(drain_seconds=25))
    assert result.ok
    assert clock.monotonic() - t0 == pytest.approx(25)
    assert result.started_at
    assert result.finished_at
    assert result.finished_at > result.started_at
    assert set(result.durations) == {s.value for s in STEP_ORDER}
    assert result.durations["drain-http"] == pytest.approx(25)


async def test_drain_seconds_zero_means_no_wait() -> None:
    clock = FakeClock()
    world = await make_world(clock)
    t0 = clock.monotonic()
    assert (await run(world, world.plan(drain_seconds=0))).ok
    assert clock.monotonic() == t0


async def test_switchover_event_carries_plan_fields_and_epoch() -> None:
    world = await make_world(FakeClock())
    result = await run(world)
    (event,) = world.sink.events
    assert (event.fromPrimary, event.toPrimary, event.step) == (A, B, "7/7")
    assert event.initiatedBy == "ops@acme.io"
    assert event.reason == "operator-requested"
    assert event.epoch == result.new_epoch


async def fail_over(world: World, **kwargs: object) -> tuple[Lease, object]:
    """A's lease expires (A lost); B's auto-failover runs. The lapsed lease and the result."""
    world.clock.advance(31)
    lapsed = await world.read_lease()
    plan = world.plan(unplanned=True, reason="auto-failover", epoch=lapsed.generation)
    return lapsed, await run(world, plan, **kwargs)


def _fail_step(world: World, step: StepName, mode: CnpgMode) -> None:
    if step is StepName.CORDON_OLD_PRIMARY:
        op = "demote" if mode is CnpgMode.DISTRIBUTED else "fence"
        world.pair.faults.add(op, Unavailable("api down", region=A))
    elif step is StepName.DRAIN_HTTP:
        world.routes.faults.add("shift_to", Unavailable("api down"))
    elif step is StepName.FLIP_DNS:
        world.dns.faults.add("verify", DnsWriteError("still old answer"))
    elif step is StepName.SWAP_LEASE:
        world.witness.faults.add("handover", WitnessUnavailable("witness down"))
    elif step is StepName.PROMOTE_NEW_PRIMARY:
        world.pair.faults.add("wait_ready_as_primary", TimeoutError("not ready"), region=B)


FAILING = [
    StepName.CORDON_OLD_PRIMARY,
    StepName.DRAIN_HTTP,
    StepName.FLIP_DNS,
    StepName.SWAP_LEASE,
    StepName.PROMOTE_NEW_PRIMARY,
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", FAILING)
async def test_failure_at_each_step_compensates_back_to_the_old_writer(
    step: StepName, mode: CnpgMode
) -> None:
    world = await make_world(FakeClock(), mode=mode)
    weights_before = dict(world.routes.weights)
    _fail_step(world, step, mode)
    result = await run(world)
    assert not result.ok
    assert result.failed_step is step
    assert result.error.startswith(f"step-{STEP_ORDER.index(step) + 1} ({step.value}): ")
    assert not result.compensation_failures
    done = STEP_ORDER[: STEP_ORDER.index(step)]
    assert set(result.compensated) >= {s for s in done if s is not StepName.VALIDATE_LEASE}
    assert await world.writer() == A
    assert world.routes.weights == weights_before
    assert not any(h.fenced for h in world.pair.halves.values())
    assert world.sink.types() == [AuditType.ERROR]


async def test_compensation_failure_is_reported_and_the_rest_still_compensated() -> None:
    world = await make_world(FakeClock())
    world.dns.faults.add("verify", DnsWriteError("still old answer"))
    world.routes.faults.add("restore", Unavailable("route api down"))
    result = await run(world)
    assert result.failed_step is StepName.FLIP_DNS
    assert "route api down" in result.compensation_failures["drain-http"]
    assert StepName.CORDON_OLD_PRIMARY in result.compensated
    assert StepName.FLIP_DNS in result.compensated
    statuses = {(r.step, r.status) for r in result.steps}
    assert (StepName.DRAIN_HTTP, "compensation-failed") in statuses


async def test_step6_partial_failure_never_leaves_two_replicas_or_two_primaries() -> None:
    world = await make_world(FakeClock(), mode=CnpgMode.REPLICA_FLIP)
    # The first flag write (A → replica) lands, the second (B → primary) fails.
    world.pair.faults.add("set_replica_enabled", Unavailable("api down", region=B), region=B)
    seen: list[list[str]] = []

    async def on_step(event: StepEvent) -> None:
        if event.kind == "compensating":
            seen.append(world.pair.primaries())

    result = await run(world, on_step=on_step)
    assert result.failed_step is StepName.PROMOTE_NEW_PRIMARY
    assert seen
    assert all(p == [A] for p in seen), seen
    assert await world.writer() == A


async def test_audit_failure_never_rolls_back_a_finished_switchover() -> None:
    world = await make_world(FakeClock())
    world.sink.faults.add("emit", ConnectionError("nats down"))
    result = await run(world)
    assert result.ok
    assert not result.compensated
    assert "nats down" in result.audit_error
    assert await world.writer() == B


async def test_a_step_refuses_when_the_epoch_changed_behind_the_run() -> None:
    world = await make_world(FakeClock())

    async def on_step(event: StepEvent) -> None:
        if event.kind == "starting" and event.step is StepName.FLIP_DNS:
            world.lease = await world.witness.renew(world.lease)  # someone else's write

    dns_writes = world.dns.writes
    result = await run(world, on_step=on_step)
    assert result.failed_step is StepName.FLIP_DNS
    assert "refusing" in result.error
    # flip-dns wrote nothing; only its (idempotent) compensation re-committed A's records
    assert world.dns.primaries() <= {A}
    assert world.dns.writes == dns_writes + 1


async def test_own_renewals_reported_to_the_fence_keep_the_run_going() -> None:
    world = await make_world(FakeClock())
    fence = Fence.for_plan(world.plan())

    async def on_step(event: StepEvent) -> None:
        if event.kind == "starting" and event.step is StepName.FLIP_DNS:
            world.lease = await world.witness.renew(world.lease)
            fence.note_own_write(world.lease)

    seq = Sequencer(world.ports(), on_step=on_step)
    result = await autojumping(
        world.clock, lambda: seq.execute(world.plan(), switchover_id="x", fence=fence)
    )
    assert result.ok, result.error


async def test_an_own_renewal_landing_while_step_one_reads_the_slot_is_not_a_stale_plan() -> None:
    """The owner's renewal is a child task of its own: it can land between the run taking
    its epoch and the witness answering step 1's read (the fence adopts it)."""
    world = await make_world(FakeClock())
    plan = world.plan()
    fence = Fence.for_plan(plan)
    inner_read = world.witness.read

    raced: list[Lease] = []

    async def read_racing_a_renewal(key: str) -> Lease:
        if not raced:  # step 1's read
            world.lease = await world.witness.renew(world.lease)
            fence.note_own_write(world.lease)
            raced.append(world.lease)
        return await inner_read(key)

    world.witness.read = read_racing_a_renewal  # type: ignore[method-assign]
    seq = Sequencer(world.ports())
    result = await autojumping(
        world.clock, lambda: seq.execute(plan, switchover_id="x", fence=fence)
    )
    assert result.ok, result.error
    assert await world.writer() == B


async def test_a_blocker_fails_before_any_write() -> None:
    world = await make_world(FakeClock())
    await world.witness.release(world.lease)
    await world.witness.acquire(KEY, "third-region", 30.0)
    writes = world.writes()
    result = await run(world)
    assert result.failed_step is StepName.VALIDATE_LEASE
    assert "third-party" in result.error
    assert world.writes() == writes
    assert result.steps_completed == ()


async def test_invalid_plan_fails_at_step_one_without_reading_anything() -> None:
    world = await make_world(FakeClock())
    result = await run(world, world.plan(B, B))
    assert result.failed_step is StepName.VALIDATE_LEASE
    assert "FromRegion == ToRegion" in result.error
    assert result.finished_at


async def test_journal_entry_is_handed_over_before_each_step() -> None:
    world = await make_world(FakeClock())
    order: list[tuple[str, StepName, tuple[StepName, ...]]] = []

    async def on_step(event: StepEvent) -> None:
        order.append((event.kind, event.step, event.journal.completed))

    await run(world, on_step=on_step)
    starts = [(s, c) for k, s, c in order if k == "starting"]
    assert [s for s, _ in starts] == list(STEP_ORDER)
    assert all(c == STEP_ORDER[:i] for i, (_, c) in enumerate(starts))


async def test_journal_write_failure_fails_the_step_before_it_acts() -> None:
    world = await make_world(FakeClock())

    async def on_step(event: StepEvent) -> None:
        if event.kind == "starting" and event.step is StepName.SWAP_LEASE:
            raise Unavailable("status write refused")

    result = await run(world, on_step=on_step)
    assert result.failed_step is StepName.SWAP_LEASE
    assert (await world.read_lease()).holder == A
    assert await world.writer() == A


@pytest.mark.parametrize("mode", MODES)
async def test_unplanned_failover_skips_the_lost_region_and_promotes_the_survivor(
    mode: CnpgMode,
) -> None:
    clock = FakeClock()
    world = await make_world(clock, mode=mode)
    world.pair.unreachable.add(A)
    world.routes.faults.add("drain", Unavailable("gateway in A down"), region=A)
    _, result = await fail_over(world)
    assert result.ok, result.error
    assert set(result.skipped) == {StepName.CORDON_OLD_PRIMARY, StepName.DRAIN_HTTP}
    assert (await world.read_lease()).holder == B
    assert world.pair.halves[B].replica_primary in ("", world.pair.halves[B].name)
    assert world.dns.primaries() == {B}


@pytest.mark.parametrize("mode", MODES)
async def test_a_rolled_back_failover_undoes_a_skipped_drain_whose_answer_was_lost(
    mode: CnpgMode,
) -> None:
    """Seed 110649: a failover's drain lands but its answer is lost, so the step is skipped
    with no prior weights known; the promotion then fails and the run rolls back. The route
    was left serving nothing. The undo now reads the route and gives back the weights the
    drain recorded on it."""
    clock = FakeClock()
    world = await make_world(clock, mode=mode)
    world.pair.unreachable.add(A)
    drain = world.routes.drain

    async def lost_reply(route: object, region: str) -> dict[str, int]:
        await drain(route, region)  # type: ignore[arg-type]
        raise TimeoutError("drain: answer lost")

    world.routes.drain = lost_reply  # type: ignore[method-assign]
    op = "promote" if mode is CnpgMode.DISTRIBUTED else "set_replica_enabled"
    world.pair.faults.add(op, Unavailable("api down", region=B), region=B)
    _, result = await fail_over(world)
    assert not result.ok
    assert result.rolled_back
    assert StepName.DRAIN_HTTP in result.skipped
    assert StepName.DRAIN_HTTP in result.compensated
    assert StepName.CORDON_OLD_PRIMARY not in result.compensated
    assert world.routes.weights == {"shop-" + A: 100, "shop-" + B: 0}


@pytest.mark.parametrize("mode", MODES)
async def test_a_rolled_back_failover_hands_the_lease_back_to_the_lost_writer(
    mode: CnpgMode,
) -> None:
    """Seed 419868: a failover acquired the lost writer's lapsed lease, could not promote,
    and its undo released the lease to nobody. The lost region's Cluster (never cordoned)
    stayed primary, and neither instance claimed the free slot (each remembered the other
    as the writer). The undo now names the lost writer again, live, so its instance adopts
    the lease once it answers (and the lease lapses for another failover if it does not)."""
    clock = FakeClock()
    world = await make_world(clock, mode=mode)
    world.pair.unreachable.add(A)
    op = "promote" if mode is CnpgMode.DISTRIBUTED else "set_replica_enabled"
    world.pair.faults.add(op, Unavailable("api down", region=B), region=B)
    lease, result = await fail_over(world)
    assert not result.ok
    assert result.rolled_back
    assert StepName.SWAP_LEASE in result.compensated
    assert not result.compensation_failures
    back = await world.read_lease()
    assert back.holder == A
    assert back.generation > lease.generation
    assert not back.is_free_at(clock.now())
    assert result.new_epoch == back.generation


async def test_the_undo_of_a_failover_whose_lease_lapsed_claims_it_for_the_lost_writer() -> None:
    """The undo of a failover's swap-lease resumed after the acquired lease lapsed (a crash
    in between): a lapsed lease cannot be handed over, so it is released and claimed for
    the lost writer, not left naming the failover's target."""
    clock = FakeClock()
    world = await make_world(clock)
    world.pair.unreachable.add(A)
    world.pair.faults.add("promote", Unavailable("api down", region=B), region=B)

    async def on_step(event: StepEvent) -> None:
        if event.kind == "compensating" and event.step is StepName.SWAP_LEASE:
            clock.advance(31)  # the failover's own lease lapses before its undo runs

    _, result = await fail_over(world, on_step=on_step)
    assert result.rolled_back
    assert StepName.SWAP_LEASE in result.compensated
    back = await world.read_lease()
    assert back.holder == A
    assert not back.is_free_at(clock.now())


@pytest.mark.parametrize("mode", MODES)
async def test_a_rolled_back_failover_whose_cordon_landed_restores_the_old_writer(
    mode: CnpgMode,
) -> None:
    """Seed 305088: a failover's cordon of the lost region's Cluster landed (it answered
    after all), then flip-dns failed. Every undo of the cordon was refused (the lease had
    lapsed, as it has for every failover), so the pair was left with no primary. The undo
    now claims the lapsed lease for the old writer in one write and makes its Cluster the
    writer again under that tenure."""
    clock = FakeClock()
    world = await make_world(clock, mode=mode)
    world.dns.faults.add("commit", DnsWriteError("pdns down"), times=1)
    lapsed, result = await fail_over(world)
    assert result.rolled_back
    assert result.failed_step is StepName.FLIP_DNS
    assert StepName.CORDON_OLD_PRIMARY in result.compensated
    assert not result.compensation_failures
    assert await world.writer() == A
    back = await world.read_lease()
    assert back.generation > lapsed.generation
    assert not back.is_free_at(clock.now())


async def test_a_failover_undo_does_not_claim_a_lease_another_region_took() -> None:
    """The claim is for the old writer only: a lapsed lease somebody else took meanwhile is
    left alone and the old primary is not made the writer again."""
    clock = FakeClock()
    world = await make_world(clock)
    world.dns.faults.add("commit", DnsWriteError("pdns down"), times=1)

    async def on_step(event: StepEvent) -> None:
        if event.kind == "compensating" and event.step is StepName.CORDON_OLD_PRIMARY:
            await world.witness.acquire(KEY, "hz-third", 30)

    _, result = await fail_over(world, on_step=on_step)
    assert result.rolled_back
    assert StepName.CORDON_OLD_PRIMARY.value in result.compensation_failures
    assert (await world.read_lease()).holder == "hz-third"
    assert A not in world.pair.primaries()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("witness", ["lapsed", "unreadable"])
async def test_the_old_primary_is_not_made_the_writer_again_without_its_lease(
    mode: CnpgMode, witness: str
) -> None:
    """A witness outage that outlasts the lease during a switchover: the undo of
    cordon-old-primary refuses to promote (or unfence) the old primary, so it never writes
    after its lease lapsed; the failure is reported and left to the journal rule."""
    world = await make_world(FakeClock(), mode=mode)
    world.routes.faults.add("shift_to", Unavailable("api down"))

    async def on_step(event: StepEvent) -> None:
        if event.kind == "compensating" and event.step is StepName.CORDON_OLD_PRIMARY:
            if witness == "lapsed":
                world.clock.advance(31)  # past the 30 s lease
            else:
                world.witness.faults.add("read", WitnessUnavailable("witness down"))

    result = await run(world, on_step=on_step)
    assert result.failed_step is StepName.DRAIN_HTTP
    assert "cordon-old-primary" in result.compensation_failures
    assert StepName.CORDON_OLD_PRIMARY not in result.compensated
    halves = world.pair.halves
    assert [r for r in world.pair.primaries() if not halves[r].fenced] == []  # no writer
