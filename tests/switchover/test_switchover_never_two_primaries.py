"""A rolled-back switchover never leaves both Clusters primary (simulator seeds 552837,
560530): the undo of ``cordon-old-primary`` makes the old primary the writer again only
once the target is observed demoted, even when the undo of ``promote-new-primary`` failed,
or was forgotten by a crash; and every undo can be repeated after the rollback finished."""

from __future__ import annotations

import pytest

from continuum.clock import FakeClock
from continuum.errors import Unavailable, WitnessUnavailable
from continuum.messages.switchover import CnpgMode, JournalEntry, StepEvent, StepName
from continuum.switchover import journal
from continuum.switchover.sequencer import Sequencer
from continuum.switchover.steps import Fence, Run, demote_new_primary, uncordon_old_primary
from tests.switchover.fakes import A, B, World, autojumping, make_world

pytestmark = pytest.mark.anyio

MODES = [CnpgMode.DISTRIBUTED, CnpgMode.REPLICA_FLIP]


def _promotion_lands_and_its_undo_fails(world: World, mode: CnpgMode) -> None:
    """B's promotion lands but its readiness answer is lost; from then on the step's own
    undo and the sequencer's undo of it both fail, so B still acts as primary when the
    rollback reaches ``cordon-old-primary``."""
    pair = world.pair

    async def wait_ready_as_primary(region: str, timeout: float) -> None:
        if region == B:
            if mode is CnpgMode.DISTRIBUTED:
                pair.faults.add("read_pair", TimeoutError("read timed out"), times=2)
            else:
                pair.faults.add("set_replica_enabled", Unavailable("api down"), region=B, times=2)
            raise TimeoutError("reply lost")

    pair.wait_ready_as_primary = wait_ready_as_primary  # type: ignore[method-assign]


class Recorder:
    """The pair's primaries at every journal write of a run (before and after each undo)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.seen: list[list[str]] = []
        self.last: JournalEntry | None = None

    async def __call__(self, event: StepEvent) -> None:
        self.seen.append(self.world.pair.primaries())
        self.last = event.journal

    def never_two(self) -> bool:
        return all(len(p) <= 1 for p in self.seen)


@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_undo_of_the_promotion_never_leaves_two_primaries(mode: CnpgMode) -> None:
    world = await make_world(FakeClock(), mode=mode)
    _promotion_lands_and_its_undo_fails(world, mode)
    record = Recorder(world)
    seq = Sequencer(world.ports(), on_step=record)
    result = await autojumping(world.clock, lambda: seq.execute(world.plan(), switchover_id="s"))
    assert result.failed_step is StepName.PROMOTE_NEW_PRIMARY
    assert "promote-new-primary" in result.compensation_failures
    assert record.never_two(), record.seen
    # The undo of cordon-old-primary stood B down itself before it made A the writer.
    assert StepName.CORDON_OLD_PRIMARY in result.compensated
    assert await world.writer() == A
    assert not any(h.fenced for h in world.pair.halves.values())


@pytest.mark.parametrize("mode", MODES)
async def test_a_crash_that_forgot_the_failed_undo_still_stands_the_target_down_first(
    mode: CnpgMode,
) -> None:
    """The first rollback cannot undo the promotion (its reads or writes fail) nor the cordon
    (the witness does not answer). A new process reads the journal: its ``step`` has moved on
    to ``cordon-old-primary`` and ``promote-new-primary`` is neither completed nor compensated,
    so the journal rule does not undo it again — the cordon's undo still never makes A the
    writer while B is primary."""
    world = await make_world(FakeClock(), mode=mode)
    _promotion_lands_and_its_undo_fails(world, mode)
    record = Recorder(world)

    async def on_step(event: StepEvent) -> None:
        await record(event)
        if event.kind == "compensating" and event.step is StepName.CORDON_OLD_PRIMARY:
            world.witness.faults.add("read", WitnessUnavailable("witness down"))

    seq = Sequencer(world.ports(), on_step=on_step)
    first = await autojumping(world.clock, lambda: seq.execute(world.plan(), switchover_id="s"))
    assert "cordon-old-primary" in first.compensation_failures
    assert world.pair.primaries() == [B]  # A not made the writer beside B
    entry = record.last
    assert entry is not None
    assert entry.phase == "compensating"

    # A new process: only the durable journal and the world.
    decision = journal.decide(entry, await world.read_lease())
    assert isinstance(decision, journal.Compensate)
    assert StepName.PROMOTE_NEW_PRIMARY not in decision.steps
    again = Recorder(world)
    fresh = Sequencer(world.ports(), on_step=again)
    second = await autojumping(world.clock, lambda: fresh.compensate(entry, decision.steps))
    assert second.ok, second.compensation_failures
    assert record.never_two(), record.seen
    assert again.never_two(), again.seen
    assert await world.writer() == A


async def test_the_old_primary_is_not_made_the_writer_while_the_target_is_unreadable() -> None:
    world = await make_world(FakeClock())
    _promotion_lands_and_its_undo_fails(world, CnpgMode.DISTRIBUTED)

    async def on_step(event: StepEvent) -> None:
        if event.kind == "compensating" and event.step is StepName.CORDON_OLD_PRIMARY:
            world.pair.unreachable.add(B)

    seq = Sequencer(world.ports(), on_step=on_step)
    result = await autojumping(world.clock, lambda: seq.execute(world.plan(), switchover_id="s"))
    assert "cannot be read" in result.compensation_failures["cordon-old-primary"]
    assert StepName.CORDON_OLD_PRIMARY not in result.compensated
    assert world.pair.primaries() == [B]


@pytest.mark.parametrize("mode", MODES)
async def test_every_pair_undo_repeated_after_the_rollback_changes_nothing(
    mode: CnpgMode,
) -> None:
    """A resume after a crash may repeat an undo that had landed (its ``compensated`` write
    lost), in any order: the writer stays A, unfenced, and B stays a replica."""
    world = await make_world(FakeClock(), mode=mode)
    world.pair.faults.add("wait_ready_as_primary", TimeoutError("reply lost"), region=B)
    plan = world.plan()
    seq = Sequencer(world.ports())
    result = await autojumping(world.clock, lambda: seq.execute(plan, switchover_id="s"))
    assert result.ok is False
    assert not result.compensation_failures
    assert await world.writer() == A
    for undo in (demote_new_primary, uncordon_old_primary, demote_new_primary):
        run = Run("s", plan, world.ports(), Fence.for_plan(plan), result.started_at)
        await autojumping(world.clock, lambda undo=undo, run=run: undo(run))  # type: ignore[misc]
        assert await world.writer() == A
        assert not any(h.fenced for h in world.pair.halves.values())
