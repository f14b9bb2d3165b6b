"""Runs the seven steps on the injected clock, journaling before each, compensating on failure.

Guarantees:

* before any write, the seven preconditions (the functions DryRun reports) are evaluated
  over one fresh snapshot; any blocker fails the run at that step with nothing written;
* the owner's ``on_step`` callback is awaited with the journal entry BEFORE each step and
  each compensation (an exception from it fails the step before it acts);
* every action runs under its own bound on the clock; on a failure the completed steps (and
  the failed one, where it may have written, and a skipped one whose undo needs nothing of
  the lost region: ``journal.UNDONE_WHEN_SKIPPED``) are compensated in reverse order, each
  shielded from cancellation and bounded; every compensation failure is reported in the
  result;
* a cancellation is not a failure: the run stops at once, compensates nothing and re-raises,
  leaving the last journal entry for :func:`continuum.switchover.journal.decide`;
* ``audit-emit`` never fails a run (the data plane has already moved; undoing it because a
  record could not be written would be worse): a refusal lands in ``result.audit_error``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import partial

import anyio
import msgspec

from continuum.errors import InvalidSpec
from continuum.messages.audit import AuditType, format_timestamp, new_event
from continuum.messages.switchover import (
    STEP_ORDER,
    JournalEntry,
    JournalPhase,
    Plan,
    StepEvent,
    StepEventKind,
    StepName,
    StepReport,
    StepStatus,
    SwitchoverResult,
    backend_in_region,
    step_number,
)
from continuum.switchover.journal import UNDONE_WHEN_SKIPPED, undo_order
from continuum.switchover.plan import prepare
from continuum.switchover.preconditions import evaluate
from continuum.switchover.snapshot import Observed, SwitchoverPorts, observe
from continuum.switchover.steps import STEPS, Fence, Run, Step
from continuum.switchover.timeouts import with_timeout

__all__ = ["OnStep", "Sequencer"]

OnStep = Callable[[StepEvent], Awaitable[None]]

_BY_NAME: dict[StepName, Step] = {step.name: step for step in STEPS}


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    return "; ".join([text, *notes]) if notes else text


class Sequencer:
    """One switchover at a time per instance (the owning actor refuses a second request)."""

    def __init__(self, ports: SwitchoverPorts, *, on_step: OnStep | None = None) -> None:
        self._ports = ports
        self._on_step = on_step
        self._reports: list[StepReport] = []
        self._durations: dict[str, float] = {}
        self._failures: dict[str, str] = {}

    # -- entry points -------------------------------------------------------------------

    async def execute(
        self, plan: Plan, *, switchover_id: str, fence: Fence | None = None
    ) -> SwitchoverResult:
        """Run ``plan`` from step 1. ``fence`` (default: from the plan) is shared with the
        owner so it can report its own renewals (:meth:`Fence.note_own_write`)."""
        self._reset()
        clock = self._ports.clock
        started = format_timestamp(clock.now())
        try:
            plan = prepare(plan)
        except InvalidSpec as exc:
            run = Run(switchover_id, plan, self._ports, Fence.for_plan(plan), started)
            return await self._fail(run, StepName.VALIDATE_LEASE, str(exc), compensate=())
        fence = fence if fence is not None else Fence.for_plan(plan)
        run = Run(switchover_id, plan, self._ports, fence, started)
        observed = await _observe_under(fence, plan, self._ports)
        for check in evaluate(plan, observed):
            if check.blockers:
                return await self._fail(run, check.step, "; ".join(check.blockers), compensate=())
        if observed.weights is not None:
            run.prior_weights = {
                backend: weight
                for backend, weight in observed.weights.items()
                if backend_in_region(backend, plan.from_region)
                or backend_in_region(backend, plan.to_region)
            }
        return await self._forward(run, STEP_ORDER)

    async def resume(
        self,
        entry: JournalEntry,
        *,
        from_step: StepName,
        epoch: int,
        completed: Iterable[StepName],
    ) -> SwitchoverResult:
        """Continue a journaled run forward from ``from_step`` (see ``journal.Resume``)."""
        self._reset()
        run = self._rebuild(entry, epoch=epoch, completed=completed)
        if StepName.SWAP_LEASE in run.completed:
            run.fence.handed_over = True
            run.fence.holder = entry.plan.to_region
            run.fence.unplanned = False
        return await self._forward(run, STEP_ORDER[STEP_ORDER.index(from_step) :])

    async def compensate(self, entry: JournalEntry, steps: Iterable[StepName]) -> SwitchoverResult:
        """Undo ``steps`` (already in the order to undo them) of a journaled run. The result
        is ``rolled_back`` (never a switch, even when ``steps`` is empty); ``ok`` says whether
        every undo succeeded."""
        self._reset()
        run = self._rebuild(entry, epoch=entry.epoch, completed=entry.completed)
        await self._compensate(run, list(steps))
        return self._result(run, ok=not self._failures, failed=None, error="", rolled_back=True)

    # -- internals ----------------------------------------------------------------------

    def _rebuild(self, entry: JournalEntry, *, epoch: int, completed: Iterable[StepName]) -> Run:
        plan = entry.plan
        fence = Fence(holder=plan.from_region, epoch=epoch, unplanned=plan.unplanned)
        return Run(
            entry.id,
            plan,
            self._ports,
            fence,
            entry.started_at,
            completed=list(completed),
            compensated=list(entry.compensated),
            skipped=list(entry.skipped),
            prior_weights=dict(entry.prior_weights),
            demotion_token=entry.demotion_token,
        )

    async def _emit(
        self,
        kind: StepEventKind,
        step: StepName,
        run: Run,
        *,
        error: str = "",
        duration_seconds: float = 0.0,
    ) -> None:
        if self._on_step is None:
            return
        phase: JournalPhase = "compensating" if kind.startswith("compensat") else "forward"
        event = StepEvent(
            kind=kind,
            step=step,
            journal=run.journal(step, phase),
            error=error,
            duration_seconds=duration_seconds,
        )
        await self._on_step(event)

    def _reset(self) -> None:
        self._reports, self._durations, self._failures = [], {}, {}

    def _record(self, step: StepName, status: StepStatus, seconds: float, error: str = "") -> None:
        self._reports.append(
            StepReport(step=step, status=status, duration_seconds=seconds, error=error)
        )

    async def _forward(self, run: Run, steps: Iterable[StepName]) -> SwitchoverResult:
        clock, plan = self._ports.clock, run.plan
        for name in steps:
            step = _BY_NAME[name]
            t0 = clock.monotonic()
            try:
                await self._emit("starting", name, run)
                await with_timeout(clock, step.timeout(plan), partial(step.action, run))
            except Exception as exc:
                seconds = clock.monotonic() - t0
                self._durations[name.value] = seconds
                if name is StepName.AUDIT_EMIT:
                    run.audit_error = _describe(exc)
                elif plan.unplanned and step.needs_lost_region:
                    run.skipped.append(name)
                    self._record(name, "skipped", seconds, _describe(exc))
                    await self._emit("skipped", name, run, error=_describe(exc))
                    continue
                else:
                    self._record(name, "failed", seconds, _describe(exc))
                    undo = undo_order(
                        completed=run.completed,
                        skipped=run.skipped,
                        in_flight=name if step.compensate_failed else None,
                    )
                    return await self._fail(run, name, _describe(exc), compensate=undo)
            seconds = clock.monotonic() - t0
            self._durations[name.value] = seconds
            run.completed.append(name)
            self._record(name, "completed", seconds)
            await self._emit("finished", name, run, duration_seconds=seconds)
        return self._result(run, ok=True, failed=None, error="")

    async def _fail(
        self, run: Run, step: StepName, cause: str, *, compensate: Iterable[StepName]
    ) -> SwitchoverResult:
        error = f"step-{step_number(step)} ({step.value}): {cause}"
        await self._compensate(run, list(compensate))
        await self._audit_error(run, step, error)
        return self._result(run, ok=False, failed=step, error=error, rolled_back=True)

    async def _compensate(self, run: Run, steps: list[StepName]) -> None:
        clock, bound = self._ports.clock, run.plan.timeouts.compensation
        for name in steps:
            step = _BY_NAME[name]
            skipped = name in run.skipped and name not in UNDONE_WHEN_SKIPPED
            if step.compensate is None or name in run.compensated or skipped:
                continue
            undo = step.compensate
            t0 = clock.monotonic()
            # Compensation must finish even if the caller is being cancelled.
            with anyio.CancelScope(shield=True):
                try:
                    await self._emit("compensating", name, run)
                    await with_timeout(clock, bound, partial(undo, run))
                except Exception as exc:
                    self._failures[name.value] = _describe(exc)
                    self._record(
                        name, "compensation-failed", clock.monotonic() - t0, _describe(exc)
                    )
                    await self._emit_quietly("compensation-failed", name, run, _describe(exc))
                    continue
                run.compensated.append(name)
                self._record(name, "compensated", clock.monotonic() - t0)
                await self._emit_quietly("compensated", name, run, "")

    async def _emit_quietly(
        self, kind: StepEventKind, step: StepName, run: Run, error: str
    ) -> None:
        try:
            await self._emit(kind, step, run, error=error)
        except Exception as exc:
            self._failures.setdefault(f"journal:{step.value}", _describe(exc))

    async def _audit_error(self, run: Run, step: StepName, error: str) -> None:
        """Best effort ``continuum-error``; a refusal lands in ``audit_error``."""
        plan, ports = run.plan, self._ports
        if ports.audit is None or not plan.continuum_name:
            return
        sink = ports.audit
        event = new_event(
            AuditType.ERROR,
            continuum=plan.continuum_name,
            occurred_at=ports.clock.now(),
            identity=(run.id, step.value),
            applicationName=plan.application_name,
            fromPrimary=plan.from_region,
            toPrimary=plan.to_region,
            step=f"{step_number(step)}/7",
            reason="step-failed",
            message=error,
            initiatedBy=plan.initiated_by,
            epoch=run.fence.epoch,
        )
        try:
            await with_timeout(ports.clock, plan.timeouts.audit_emit, lambda: sink.emit(event))
        except Exception as exc:
            run.audit_error = _describe(exc)

    def _result(
        self,
        run: Run,
        *,
        ok: bool,
        failed: StepName | None,
        error: str,
        rolled_back: bool = False,
    ) -> SwitchoverResult:
        return SwitchoverResult(
            id=run.id,
            from_region=run.plan.from_region,
            to_region=run.plan.to_region,
            ok=ok,
            started_at=run.started_at,
            finished_at=format_timestamp(self._ports.clock.now()),
            steps_completed=tuple(run.completed),
            failed_step=failed,
            error=error,
            compensated=tuple(run.compensated),
            compensation_failures=dict(self._failures),
            skipped=tuple(run.skipped),
            durations=dict(self._durations),
            new_epoch=run.fence.epoch,
            audit_error=run.audit_error,
            steps=tuple(self._reports),
            rolled_back=rolled_back,
        )


async def _observe_under(fence: Fence, plan: Plan, ports: SwitchoverPorts) -> Observed:
    """Step 1's snapshot, checked against the fence's epoch as it stood when the slot was
    read. The owner's renewals run beside the run and report to ``fence``: one that lands
    while the slot is being read moves the epoch on, and the read may show the generation
    from before or after it. Either is our own tenure; anything else stays a stale plan."""
    before = fence.epoch
    observed = await observe(plan, ports, epoch=before)
    seen = observed.lease.generation if observed.lease is not None else None
    if seen is not None and seen != before and seen == fence.epoch:
        return msgspec.structs.replace(observed, epoch=fence.epoch)
    return observed
