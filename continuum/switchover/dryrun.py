"""DryRun: the seven steps through the same precondition functions Execute uses, read-only.

:func:`dry_run` reads through :func:`~continuum.switchover.snapshot.observe` (witness read,
pair read, route read, in-memory synthesis) and nothing else: no write to any API, no audit
event. :func:`report` is the pure half, for callers that already hold a snapshot.
"""

from __future__ import annotations

import anyio.lowlevel

from continuum.messages.audit import format_timestamp
from continuum.messages.switchover import DryRunReport, DryRunStep, Plan, StepName, step_number
from continuum.switchover.fingerprint import fingerprint
from continuum.switchover.plan import prepare
from continuum.switchover.preconditions import evaluate
from continuum.switchover.snapshot import Observed, SwitchoverPorts, observe

__all__ = ["WRITE_DISRUPTING_STEPS", "dry_run", "report"]

WRITE_DISRUPTING_STEPS = (StepName.CORDON_OLD_PRIMARY, StepName.DRAIN_HTTP, StepName.SWAP_LEASE)
"""Steps during which writes are refused (their estimates sum to the write disruption)."""


async def dry_run(plan: Plan, ports: SwitchoverPorts, *, epoch: int | None = None) -> DryRunReport:
    """Evaluate ``plan`` against the live state, read-only.

    ``epoch`` (default ``plan.epoch``) is the fencing epoch the caller currently holds.
    Raises :class:`~continuum.errors.InvalidSpec` when the plan itself is invalid (the API
    maps it to 400) and the caller's cancellation; everything else is a blocker or warning.
    """
    await anyio.lowlevel.checkpoint_if_cancelled()
    plan = prepare(plan)
    observed = await observe(plan, ports, epoch=plan.epoch if epoch is None else epoch)
    return report(plan, observed)


def report(plan: Plan, observed: Observed) -> DryRunReport:
    """The report for ``plan`` over ``observed``. Pure."""
    checks = evaluate(plan, observed)
    steps = [
        DryRunStep(
            step=step_number(c.step),
            name=c.step.value,
            preconditionsMet=c.met,
            estimatedDurationSeconds=c.estimate,
            notes=list(c.notes),
        )
        for c in checks
    ]
    lease = observed.lease
    return DryRunReport(
        planFingerprint=fingerprint(plan, observed.to_records),
        steps=steps,
        estimatedDurationSeconds=sum(c.estimate for c in checks),
        estimatedWriteDisruptionSeconds=sum(
            c.estimate for c in checks if c.step in WRITE_DISRUPTING_STEPS
        ),
        generatedAt=format_timestamp(observed.now),
        warnings=[w for c in checks for w in c.warnings],
        blockers=[b for c in checks for b in c.blockers],
        leaseHolder=lease.holder if lease else "",
        leaseExpiresAt=format_timestamp(lease.expires_at) if lease and lease.expires_at else "",
        leaseGeneration=lease.generation if lease else 0,
    )
