"""How a ContinuumActor runs a switchover: start it, journal each step through the actor,
recover an unfinished journal, and take the outcome (done or crashed).

The run itself is a child task (a :class:`~continuum.switchover.sequencer.Sequencer`); before
each step it asks the actor to persist the journal, so status is durable before the step acts.
Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from continuum import metrics
from continuum.actors.continuum import view
from continuum.actors.continuum.finalizing import (
    old_primary_after_run,
    release_when_idle,
    target_copy_refusal,
)
from continuum.actors.continuum.keeper import WitnessGateway
from continuum.actors.continuum.leasing import refresh_lease
from continuum.actors.continuum.limits import JOURNAL_ASK_TIMEOUT
from continuum.actors.continuum.lua_mirror import mirror_committed_records
from continuum.actors.continuum.messages import (
    HealthDue,
    StepProgress,
    SwitchoverCrashed,
    SwitchoverDone,
)
from continuum.actors.runtime import ReplyError
from continuum.core import runs as core_runs
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditDelivery, AuditEvent
from continuum.messages.status import COND_AUDIT_DELIVERED
from continuum.messages.switchover import JournalEntry, Plan, StepName, SwitchoverResult
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.sequencer import Sequencer
from continuum.switchover.snapshot import SwitchoverPorts
from continuum.switchover.steps import Fence

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "Running",
    "ports",
    "recover_journal",
    "start_run",
    "step_progress",
    "switchover_crashed",
    "switchover_done",
]


class Running(msgspec.Struct, kw_only=True):
    """The run under way (at most one per actor)."""

    id: str
    plan: Plan
    fence: Fence
    from_request: bool
    started: float


class _RegionSink:
    """The AuditSink a run sees: stamps this instance's region on each event."""

    def __init__(self, actor: ContinuumActor) -> None:
        self._actor = actor

    async def emit(self, event: AuditEvent) -> None:
        await self._actor.env.audit.emit(msgspec.structs.replace(event, region=self._actor.region))

    def delivery_state(self, continuum: str) -> AuditDelivery | None:
        return self._actor.env.audit.delivery_state(continuum)


def ports(actor: ContinuumActor, *, writes: bool) -> SwitchoverPorts:
    """The edges a run (``writes=True``: witness writes go through the actor's
    :class:`LeaseKeeper`) or a DryRun (``writes=False``: the plain witness) talks to."""
    return SwitchoverPorts(
        clock=actor.clock,
        witness=WitnessGateway(actor.keeper) if writes else actor.witness,
        pair=actor.collab.pair,
        routes=actor.collab.routes,
        dns=actor.collab.dns,
        audit=_RegionSink(actor),
        verify_dns=actor.collab.verify_dns,
    )


def start_run(
    actor: ContinuumActor,
    *,
    from_region: str,
    to_region: str,
    reason: str,
    initiated_by: str,
    unplanned: bool,
    from_request: bool,
) -> str:
    """Plan a run from the spec at the current lease generation, fence it, and start it as
    a child task; returns its id. The outcome arrives as ``SwitchoverDone`` or
    ``SwitchoverCrashed``."""
    epoch = actor.epoch
    plan = plan_from_spec(
        actor.cr,
        from_region=from_region,
        to_region=to_region,
        reason=reason,
        initiated_by=initiated_by,
        epoch=epoch,
        unplanned=unplanned,
        timeouts=actor.env.timeouts,
    )
    sid = f"{actor.clock.now().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    fence = Fence.for_plan(plan)
    actor.keeper.observers.append(fence.note_own_write)
    actor.running = Running(
        id=sid,
        plan=plan,
        fence=fence,
        from_request=from_request,
        started=actor.clock.monotonic(),
    )
    sequencer = Sequencer(
        ports(actor, writes=True), on_step=lambda event: _journal_through_actor(actor, event)
    )
    actor.log.info("switchover_started", id=sid, to=to_region, reason=reason, epoch=epoch)

    async def work() -> SwitchoverResult:
        await actor.observing.repairs_settled()  # never beside a convergence write
        return await sequencer.execute(plan, switchover_id=sid, fence=fence)

    actor.ctx.start_child(
        work,
        on_result=lambda r: SwitchoverDone(result=r, from_request=from_request),
        on_error=lambda e: SwitchoverCrashed(switchover_id=sid, error=str(e) or repr(e)),
        name=f"switchover:{sid}",
    )
    return sid


async def _journal_through_actor(actor: ContinuumActor, event: Any) -> None:
    """Called by the run (child task): the actor persists the journal, then the step runs."""
    await actor.ctx.ref.ask(StepProgress(event=event), timeout=JOURNAL_ASK_TIMEOUT)


async def step_progress(actor: ContinuumActor, event: Any) -> None:
    """Record a step in the status journal. Raises ``ReplyError`` (the step does not run)
    when a starting or compensating step's journal could not be written."""
    actor.log.info(
        "switchover_step",
        step=event.step.value,
        kind=event.kind,
        epoch=event.journal.epoch,
        seconds=round(event.duration_seconds, 3),
        error=event.error or None,
    )
    if event.kind == "finished":
        metrics.observe_step(event.step.value, event.duration_seconds)
    actor.status = msgspec.structs.replace(
        actor.status, switchover=view.journal_from_entry(event.journal)
    )
    mirror_committed_records(actor, event, ports(actor, writes=False))
    if event.kind in ("starting", "compensating") and not await actor.flush(essential=True):
        raise ReplyError("the journal could not be persisted; refusing to run the step")
    if event.kind == "starting" and event.step is StepName.SWAP_LEASE:
        # After the journal names the handover: a target whose deletion began before this
        # read is refused here, one that begins after it sees the journal and waits.
        refusal = await target_copy_refusal(actor, event.journal.plan.to_region)
        if refusal:
            raise ReplyError(f"refusing to hand the writer role over: {refusal}")


async def recover_journal(actor: ContinuumActor) -> None:
    """Resume, compensate, drop, close or leave an unfinished journal found in status, as
    :func:`continuum.core.runs.recover` decides (the journal rule of
    ``continuum.switchover.journal``, ``docs/switchover.md``). Nothing while a run is under
    way."""
    journal = actor.status.switchover
    entry = view.entry_from_journal(journal) if journal is not None else None
    decision = core_runs.recover(
        journal_id=journal.id if journal is not None else None,
        entry=entry,
        running=actor.running is not None,
        lease=None if actor.witness_error else actor.lease_view,
        attempts=actor.undo_attempts.get(entry.id) if entry is not None else None,
        now=actor.clock.now(),
    )
    if isinstance(decision, core_runs.Leave):
        return
    if isinstance(decision, core_runs.Unresumable):
        actor.log.error("journal_unresumable", id=decision.id)
        return
    assert entry is not None
    actor.log.warning("journal_found", id=entry.id, decision=_decision_name(decision))
    if isinstance(decision, core_runs.DropJournal):
        actor.status = msgspec.structs.replace(actor.status, switchover=None)
        return
    if isinstance(decision, core_runs.Wait):
        actor.log.warning("journal_undecided", id=entry.id, why=decision.reason)
        return
    if isinstance(decision, core_runs.CloseSuperseded):
        _close_superseded(actor, entry, decision)
        return
    fence = Fence(holder=entry.plan.from_region, epoch=entry.epoch)
    actor.keeper.observers.append(fence.note_own_write)
    actor.running = Running(
        id=entry.id,
        plan=entry.plan,
        fence=fence,
        from_request=False,
        started=actor.clock.monotonic(),
    )
    sequencer = Sequencer(
        ports(actor, writes=True), on_step=lambda event: _journal_through_actor(actor, event)
    )
    if isinstance(decision, core_runs.Resume):
        resume = decision

        async def work() -> SwitchoverResult:
            await actor.observing.repairs_settled()  # never beside a convergence write
            return await sequencer.resume(
                entry,
                from_step=resume.from_step,
                epoch=resume.epoch,
                completed=resume.completed,
            )
    else:
        steps = decision.steps

        async def work() -> SwitchoverResult:
            await actor.observing.repairs_settled()
            return await sequencer.compensate(entry, steps)

    actor.ctx.start_child(
        work,
        on_result=lambda r: SwitchoverDone(result=r),
        on_error=lambda e: SwitchoverCrashed(switchover_id=entry.id, error=str(e) or repr(e)),
        name=f"recover:{entry.id}",
    )


_DECISION_NAMES: dict[type, str] = {
    core_runs.DropJournal: "Finished",
    core_runs.Wait: "Undecided",
    core_runs.CloseSuperseded: "Superseded",
    core_runs.Resume: "Resume",
    core_runs.Compensate: "Compensate",
}


def _decision_name(decision: core_runs.Recovery) -> str:
    """The journal rule's name for ``decision`` (the ``journal_found`` log line keeps it)."""
    return _DECISION_NAMES.get(type(decision), type(decision).__name__)


def _close_superseded(
    actor: ContinuumActor, entry: JournalEntry, decision: core_runs.CloseSuperseded
) -> None:
    """Close a journal whose lease reached the target by another path (a failover, a later
    run), forward or compensating: the journal is cleared and ``lastSwitchover`` records the
    run ``Failed`` at its journaled step, with what was observed (holder, generation).
    Nothing is resumed or undone; the holder's convergence brings the world to it."""
    actor.undo_attempts.pop(entry.id, None)
    actor.log.warning(
        "journal_superseded",
        id=entry.id,
        step=entry.step.value,
        holder=decision.holder,
        generation=decision.generation,
    )
    last = view.last_switchover(
        decision.result,
        reason=entry.plan.reason,
        initiated_by=entry.plan.initiated_by,
        duration=0.0,
    )
    actor.status = msgspec.structs.replace(actor.status, switchover=None, last_switchover=last)
    metrics.observe_switchover(0.0, result=last.result.lower())


async def switchover_done(actor: ContinuumActor, result: SwitchoverResult) -> None:
    """Take a run's result: ``lastSwitchover``, the journal cleared, and after a successful
    (not compensated) run the new acting primary and the post-switchover health timer.

    A rollback whose undo failed keeps its journal (``compensating``, the failed undo not
    in ``compensated``): the journal rule undoes it again at the next renewal, up to
    :data:`~continuum.core.runs.COMPENSATION_ATTEMPTS` times per process
    (:func:`continuum.core.runs.run_ended` decides); then the journal is closed ``Failed``
    and convergence, no longer blocked by it, brings the world to the lease holder."""
    run = actor.running
    actor.running = None
    if run is not None and run.fence.note_own_write in actor.keeper.observers:
        actor.keeper.observers.remove(run.fence.note_own_write)
    kept, outcome = core_runs.run_ended(
        actor.undo_attempts.pop(result.id, None),
        result,
        journal_open=actor.status.switchover is not None,
        run_known=run is not None,
    )
    if kept is not None:
        actor.undo_attempts[result.id] = kept
    if isinstance(outcome, core_runs.RetryUndo):
        actor.log.warning(
            "compensation_retry_due",
            id=result.id,
            attempt=outcome.attempts.attempts,
            failures=sorted(result.compensation_failures),
        )
        await actor.flush()
        return
    result = outcome.result
    plan = run.plan if run is not None else None
    duration = actor.clock.monotonic() - run.started if run is not None else 0.0
    last = view.last_switchover(
        result,
        reason=plan.reason if plan else "",
        initiated_by=plan.initiated_by if plan else "",
        duration=duration,
    )
    actor.status = msgspec.structs.replace(actor.status, switchover=None, last_switchover=last)
    actor.old_primary_unconfirmed = old_primary_after_run(
        actor.old_primary_unconfirmed, last, region=actor.region
    )
    metrics.observe_switchover(duration, result=last.result.lower())
    if outcome.switched and plan is not None:
        actor.status = msgspec.structs.replace(actor.status, acting_primary=result.to_region)
        actor.lease_view = None
        actor.unreachable_streak = actor.lag_streak = 0
        actor.lag_tracker.reset()
        actor.ctx.start_timer(
            "health",
            actor.env.health_delay_seconds,
            HealthDue(switchover_id=result.id, plan=plan),
        )
    if result.audit_error:
        actor.condition(COND_AUDIT_DELIVERED, "False", "PublishFailed", result.audit_error)
    actor.log.info(
        "switchover_finished",
        id=result.id,
        ok=result.ok,
        result=last.result,
        failed_step=result.failed_step.value if result.failed_step else None,
        error=result.error or None,
        seconds=round(duration, 3),
    )
    if run is not None and run.from_request:
        try:
            await actor.env.status.clear_switchover_request(actor.key)
        except (ContinuumError, TimeoutError) as exc:
            actor.log.warning("clear_request_failed", error=str(exc))
    await refresh_lease(actor)
    await actor.flush()
    await release_when_idle(actor)  # a deletion that waited for this run goes on now


async def switchover_crashed(actor: ContinuumActor, sid: str, text: str) -> None:
    """A run's task failed: the journal stays, and the rule decides at once what happens
    to it (resume, compensate, or wait)."""
    actor.log.error("switchover_crashed", id=sid, error=text)
    actor.running = None
    # The journal stays: the rule decides on the next start (or below, at once).
    await refresh_lease(actor)
    await recover_journal(actor)
    await actor.flush()
    await release_when_idle(actor)
