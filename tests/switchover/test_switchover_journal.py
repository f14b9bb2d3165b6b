"""The journal rule: every step boundary, and a crash (cancellation) at each boundary and in
the middle of each step, followed by a new sequencer applying the rule."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from continuum.clock import FakeClock
from continuum.messages.lease import Lease
from continuum.messages.switchover import STEP_ORDER, JournalEntry, StepEvent, StepName
from continuum.switchover.journal import (
    Compensate,
    Finished,
    Resume,
    Superseded,
    Undecided,
    decide,
    undo_order,
)
from continuum.switchover.sequencer import Sequencer
from tests.switchover.fakes import KEY, A, B, World, autojumping, make_world

pytestmark = pytest.mark.anyio

SWAP = STEP_ORDER.index(StepName.SWAP_LEASE)


def entry(step: StepName, *, phase: str = "forward", epoch: int = 5, **kw: object) -> JournalEntry:
    from continuum.messages.switchover import Plan
    from tests.switchover.fakes import dns_plan

    plan = Plan(continuum_name=KEY, from_region=A, to_region=B, dns=dns_plan(), epoch=5)
    index = STEP_ORDER.index(step)
    values: dict[str, object] = {"completed": STEP_ORDER[:index]}
    values.update(kw)
    return JournalEntry(
        id="sw",
        plan=plan,
        step=step,
        phase=phase,
        epoch=epoch,  # type: ignore[arg-type]
        started_at="2026-01-01T00:00:00Z",
        **values,  # type: ignore[arg-type]
    )


def lease(holder: str, generation: int) -> Lease:
    return Lease(key=KEY, holder=holder, generation=generation)


@pytest.mark.parametrize("step", STEP_ORDER[: SWAP + 1])
def test_before_the_handover_lands_the_run_is_compensated_newest_first(step: StepName) -> None:
    decision = decide(entry(step), lease(A, 5))
    assert isinstance(decision, Compensate)
    assert decision.steps == (step, *reversed(STEP_ORDER[: STEP_ORDER.index(step)]))


def test_swap_in_flight_whose_cas_landed_resumes_at_promotion_with_the_new_epoch() -> None:
    decision = decide(entry(StepName.SWAP_LEASE), lease(B, 6))
    assert decision == Resume(
        from_step=StepName.PROMOTE_NEW_PRIMARY, epoch=6, completed=STEP_ORDER[: SWAP + 1]
    )


@pytest.mark.parametrize("step", STEP_ORDER[SWAP + 1 :])
def test_after_the_lease_moved_to_the_target_the_run_resumes_forward(step: StepName) -> None:
    decision = decide(entry(step, epoch=6), lease(B, 9))
    assert decision == Resume(
        from_step=step, epoch=6, completed=STEP_ORDER[: STEP_ORDER.index(step)]
    )


def test_a_compensating_journal_keeps_compensating_what_is_left() -> None:
    e = entry(
        StepName.DRAIN_HTTP,
        phase="compensating",
        completed=STEP_ORDER[:4],
        compensated=(StepName.FLIP_DNS,),
    )
    assert decide(e, lease(A, 5)) == Compensate(
        steps=(StepName.DRAIN_HTTP, StepName.CORDON_OLD_PRIMARY, StepName.VALIDATE_LEASE)
    )


def test_a_compensating_journal_whose_lease_another_path_moved_to_the_target_is_superseded() -> (
    None
):
    """Seed 2742: the undo of ``cordon-old-primary`` (promote ``from``) found after a later
    run handed the lease to ``to`` would make two primaries; the journal is closed instead."""
    e = entry(StepName.CORDON_OLD_PRIMARY, phase="compensating", completed=STEP_ORDER[:1])
    assert decide(e, lease(B, 6)) == Superseded(holder=B, generation=6)
    undone = entry(
        StepName.FLIP_DNS,
        phase="compensating",
        completed=STEP_ORDER[: SWAP + 1],
        compensated=(StepName.SWAP_LEASE,),
    )
    assert decide(undone, lease(B, 9)) == Superseded(holder=B, generation=9)


@pytest.mark.parametrize(
    "journal",
    [
        entry(StepName.SWAP_LEASE, phase="compensating"),
        entry(StepName.PROMOTE_NEW_PRIMARY, phase="compensating", epoch=6),
    ],
    ids=["swap-in-flight", "swap-completed"],
)
def test_a_compensating_journal_whose_own_swap_moved_the_lease_keeps_compensating(
    journal: JournalEntry,
) -> None:
    decision = decide(journal, lease(B, 6))
    assert isinstance(decision, Compensate)
    assert StepName.SWAP_LEASE in decision.steps


def test_done_is_finished() -> None:
    assert decide(entry(StepName.AUDIT_EMIT, phase="done"), None) == Finished()


@pytest.mark.parametrize(
    ("journal", "seen"),
    [
        (entry(StepName.FLIP_DNS), None),
        (entry(StepName.FLIP_DNS), lease("third", 7)),
        (entry(StepName.PROMOTE_NEW_PRIMARY, epoch=6), lease(A, 8)),
        (entry(StepName.DRAIN_HTTP, phase="compensating"), None),
        (entry(StepName.DRAIN_HTTP, phase="compensating"), lease("third", 7)),
    ],
    ids=[
        "unreadable",
        "third-party",
        "left-target",
        "compensating-unreadable",
        "compensating-third-party",
    ],
)
def test_states_the_rule_cannot_explain_are_undecided(
    journal: JournalEntry, seen: Lease | None
) -> None:
    assert isinstance(decide(journal, seen), Undecided)


@pytest.mark.parametrize("step", STEP_ORDER[:SWAP])
def test_a_lease_moved_to_the_target_by_a_failover_supersedes_the_run(step: StepName) -> None:
    """Before its ``swap-lease`` the run cannot have moved the lease (the journal names each
    step before it starts): the lease on ``to`` came by another path, and the journal is
    closed with what was observed, neither resumed nor undone."""
    assert decide(entry(step), lease(B, 7)) == Superseded(holder=B, generation=7)


async def _crash_and_recover(world: World, *, at: StepName, mid_step: bool) -> str:
    """Run until ``at`` starts (or is in the middle of its action), cancel, then apply the
    journal rule with a new sequencer. Returns the writer everyone agrees on."""
    journal: list[JournalEntry] = []
    if mid_step:
        hang = {
            StepName.VALIDATE_LEASE: (world.witness.faults, "read"),
            StepName.CORDON_OLD_PRIMARY: (world.pair.faults, "demote"),
            StepName.DRAIN_HTTP: (world.routes.faults, "shift_to"),
            StepName.FLIP_DNS: (world.dns.faults, "verify"),
            StepName.SWAP_LEASE: (world.witness.faults, "handover"),
            StepName.PROMOTE_NEW_PRIMARY: (world.pair.faults, "wait_ready_as_primary"),
            StepName.AUDIT_EMIT: (world.sink.faults, "emit"),
        }[at]

    async def on_step(event: StepEvent) -> None:
        journal.append(event.journal)
        if event.kind == "starting" and event.step is at:
            if mid_step:
                hang[0].add(hang[1], hang=True)
            else:
                scope.cancel()

    seq = Sequencer(world.ports(), on_step=on_step)
    plan = world.plan(drain_seconds=0)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_execute_kw, seq, plan, "sw")
            await anyio.wait_all_tasks_blocked()
            while True:
                await anyio.wait_all_tasks_blocked()
                if journal and journal[-1].step is at:
                    break
                await anyio.lowlevel.checkpoint()
            scope.cancel()
    last = journal[-1]
    assert last.step is at
    recovery = Sequencer(world.ports())
    decision = decide(last, await world.read_lease())
    if isinstance(decision, Resume):
        result = await autojumping(
            world.clock,
            lambda: recovery.resume(
                last,
                from_step=decision.from_step,
                epoch=decision.epoch,
                completed=decision.completed,
            ),
        )
    else:
        assert isinstance(decision, Compensate), decision
        result = await autojumping(world.clock, lambda: recovery.compensate(last, decision.steps))
    assert result.ok, (result.error, result.compensation_failures)
    return await world.writer()


async def _execute_kw(seq: Sequencer, plan: object, switchover_id: str) -> None:
    await seq.execute(plan, switchover_id=switchover_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("mid_step", [False, True], ids=["boundary", "mid-step"])
@pytest.mark.parametrize("at", STEP_ORDER)
async def test_crash_at_each_step_then_journal_rule_gives_one_consistent_writer(
    at: StepName, mid_step: bool
) -> None:
    world = await make_world(FakeClock())
    writer = await _crash_and_recover(world, at=at, mid_step=mid_step)
    lease_moved = STEP_ORDER.index(at) > SWAP
    if at is StepName.SWAP_LEASE and mid_step:
        lease_moved = False  # the hang is before the compare-and-set
    assert writer == (B if lease_moved else A)


def test_a_crash_while_compensating_the_failed_step_still_undoes_it() -> None:
    """Issue 13: cordon-old-primary failed (not in ``completed``) and its undo was journaled
    as in flight; the next instance must undo it, not skip it."""
    e = entry(
        StepName.CORDON_OLD_PRIMARY,
        phase="compensating",
        completed=(StepName.VALIDATE_LEASE,),
    )
    assert decide(e, lease(A, 5)) == Compensate(
        steps=(StepName.CORDON_OLD_PRIMARY, StepName.VALIDATE_LEASE)
    )


def test_an_undo_already_recorded_is_not_repeated_after_a_crash() -> None:
    e = entry(
        StepName.DRAIN_HTTP,
        phase="compensating",
        completed=STEP_ORDER[:3],
        compensated=(StepName.DRAIN_HTTP,),
    )
    assert decide(e, lease(A, 5)) == Compensate(
        steps=(StepName.CORDON_OLD_PRIMARY, StepName.VALIDATE_LEASE)
    )


async def test_a_recovered_compensation_is_rolled_back_even_with_nothing_to_undo() -> None:
    """Issue 13: an empty undo list was reported ``ok`` and not compensated, which the actor
    recorded as ``Succeeded`` and took as a switch to the target."""
    from continuum.actors.continuum.view import last_switchover

    world = await make_world(FakeClock())
    journaled = entry(StepName.VALIDATE_LEASE, phase="compensating", completed=())
    result = await Sequencer(world.ports()).compensate(journaled, ())
    assert result.rolled_back
    assert result.ok
    last = last_switchover(result, reason="", initiated_by="", duration=0.0)
    assert last.result == "Compensated"


async def _recover_until_killed(world: World, last: JournalEntry) -> JournalEntry:
    """Apply the rule to ``last`` with a new sequencer and kill it (cancel) right after it
    journals its first action; returns the journal it left."""
    journal: list[JournalEntry] = []

    async def on_step(event: StepEvent) -> None:
        journal.append(event.journal)
        if event.kind in ("starting", "compensating"):
            scope.cancel()
            await anyio.lowlevel.checkpoint()

    decision = decide(last, await world.read_lease())
    seq = Sequencer(world.ports(), on_step=on_step)
    with anyio.CancelScope() as scope:
        if isinstance(decision, Resume):
            await seq.resume(
                last,
                from_step=decision.from_step,
                epoch=decision.epoch,
                completed=decision.completed,
            )
        else:
            assert isinstance(decision, Compensate), decision
            await seq.compensate(last, decision.steps)
    return journal[-1] if journal else last


@pytest.mark.parametrize("at", STEP_ORDER)
async def test_a_second_crash_during_recovery_still_ends_switched_or_restored(
    at: StepName,
) -> None:
    """Issue 13's double kill: killed at a step, then killed again as the next instance
    journals its first recovery action (an undo or a forward step): a third instance applies
    the rule to what the second left and the world ends with one writer everyone agrees on."""
    world = await make_world(FakeClock())
    journal: list[JournalEntry] = []

    async def on_step(event: StepEvent) -> None:
        journal.append(event.journal)
        if event.kind == "starting" and event.step is at:
            scope.cancel()
            await anyio.lowlevel.checkpoint()

    with anyio.CancelScope() as scope:
        await Sequencer(world.ports(), on_step=on_step).execute(
            world.plan(drain_seconds=0), switchover_id="sw"
        )
    second = await _recover_until_killed(world, journal[-1])
    decision = decide(second, await world.read_lease())
    recovery = Sequencer(world.ports())
    if isinstance(decision, Resume):
        result = await autojumping(
            world.clock,
            lambda: recovery.resume(
                second,
                from_step=decision.from_step,
                epoch=decision.epoch,
                completed=decision.completed,
            ),
        )
    else:
        assert isinstance(decision, Compensate), decision
        result = await autojumping(world.clock, lambda: recovery.compensate(second, decision.steps))
    assert result.ok, (result.error, result.compensation_failures)
    writer = await world.writer()
    assert writer == (B if STEP_ORDER.index(at) > SWAP else A)
    assert result.rolled_back == (writer == A)


def test_a_skipped_drain_is_undone_in_its_place_a_skipped_cordon_is_not() -> None:
    """Seed 110649: a failover skipped ``drain-http`` (its write landed, its answer was
    lost) and ``cordon-old-primary``; a crash while compensating leaves the drain's undo to
    the rule, newest first among the attempted steps. The cordon's undo needs the lost
    region's lease: never run for a skipped cordon."""
    skipped = (StepName.CORDON_OLD_PRIMARY, StepName.DRAIN_HTTP)
    completed = (StepName.VALIDATE_LEASE, StepName.FLIP_DNS, StepName.SWAP_LEASE)
    assert undo_order(
        completed=completed,
        skipped=skipped,
        in_flight=StepName.PROMOTE_NEW_PRIMARY,
    ) == (
        StepName.PROMOTE_NEW_PRIMARY,
        StepName.SWAP_LEASE,
        StepName.FLIP_DNS,
        StepName.DRAIN_HTTP,
        StepName.VALIDATE_LEASE,
    )
    journal = entry(
        StepName.FLIP_DNS,
        phase="compensating",
        completed=completed,
        skipped=skipped,
        compensated=(StepName.PROMOTE_NEW_PRIMARY, StepName.SWAP_LEASE),
    )
    decision = decide(journal, lease("", 7))
    assert decision == Compensate(
        steps=(StepName.FLIP_DNS, StepName.DRAIN_HTTP, StepName.VALIDATE_LEASE)
    )
    done = undo_order(completed=completed, skipped=skipped, compensated=(StepName.DRAIN_HTTP,))
    assert StepName.DRAIN_HTTP not in done
    assert StepName.CORDON_OLD_PRIMARY not in done
