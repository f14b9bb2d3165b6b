"""The shell of the failback approval gate (``continuum/core/failback.py``): condition
``FailbackApproval``, the approval timeout and the ungated mode (``spec.failback``;
``docs/switchover.md``).

The rule decides what a failback that waits, times out or runs does to the CR; this module
carries it out: the condition (its ``lastTransitionTime``, kept in the CR status, is when the
wait began, so the timeout survives a restart of the controller), the announcement
``continuum-failback-pending`` (once per generation and direction, remembered in status),
the ``continuum-error`` of a timeout, and the clearing of the request.

Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from continuum.core import failback as rule
from continuum.core.failback import COND_FAILBACK_APPROVAL
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "COND_FAILBACK_APPROVAL",
    "announce_failback_pending",
    "failback_runs",
    "failback_timed_out",
    "failback_waits",
    "pending_since",
]


def _facts(actor: ContinuumActor) -> rule.GateFacts:
    spec = actor.cr.spec
    return rule.GateFacts(
        condition=actor.status.condition(COND_FAILBACK_APPROVAL),
        generation=actor.cr.metadata.generation or None,
        require_approval=spec.failback.require_approval,
        approval_timeout_seconds=spec.failback.approval_timeout_seconds,
    )


def pending_since(actor: ContinuumActor) -> datetime | None:
    """When the current wait for approval began (from status), or None when none is on."""
    return rule.pending_since(actor.status.condition(COND_FAILBACK_APPROVAL))


async def failback_waits(actor: ContinuumActor, from_region: str, to_region: str) -> None:
    """The failback ``from_region`` → ``to_region`` awaits approval: announced, condition
    ``AwaitingApproval`` (nothing when this generation's request was given up)."""
    await _carry_out(
        actor, rule.decide(_facts(actor), rule.Waits(from_region=from_region, to_region=to_region))
    )


async def failback_timed_out(
    actor: ContinuumActor, from_region: str, to_region: str, waited: float
) -> None:
    """Give the request up: condition, audit, and the request cleared (never retried)."""
    event = rule.TimedOut(from_region=from_region, to_region=to_region, waited=waited)
    await _carry_out(actor, rule.decide(_facts(actor), event))


async def failback_runs(actor: ContinuumActor, from_region: str, to_region: str) -> None:
    """The failback starts: announced first when ungated; ``FailbackApproval`` True
    (``Approved`` or ``NotRequired``)."""
    await _carry_out(
        actor, rule.decide(_facts(actor), rule.Runs(from_region=from_region, to_region=to_region))
    )


async def _carry_out(actor: ContinuumActor, effects: list[rule.Effect]) -> None:
    for effect in effects:
        if isinstance(effect, rule.Announce):
            await announce_failback_pending(actor, effect.from_region, effect.to_region)
        elif isinstance(effect, rule.SetCondition):
            if effect.fresh:  # a new wait: its own lastTransitionTime
                kept = [c for c in actor.status.conditions if c.type != COND_FAILBACK_APPROVAL]
                actor.status = msgspec.structs.replace(actor.status, conditions=kept)
            actor.condition(COND_FAILBACK_APPROVAL, effect.status, effect.reason, effect.message)
        elif isinstance(effect, rule.EmitTimeout):
            actor.log.warning(
                "failback_approval_timeout", to=effect.to_region, waited=round(effect.waited, 3)
            )
            await actor.emit(
                AuditType.ERROR,
                identity=("failback-approval-timeout", effect.generation),
                fromPrimary=effect.from_region,
                toPrimary=effect.to_region,
                reason="failback-approval-timeout",
                message=effect.message,
            )
        else:
            try:
                await actor.env.status.clear_switchover_request(actor.key)
            except (ContinuumError, TimeoutError) as exc:
                actor.log.warning("clear_request_failed", error=str(exc))
            await actor.flush()


async def announce_failback_pending(
    actor: ContinuumActor, from_region: str, to_region: str
) -> None:
    """Audit ``FAILBACK_PENDING`` once per (generation, direction), remembered in status
    (``failbackAnnounced``) so a restarted instance does not announce it again: the same
    occurrence re-emitted after JetStream's duplicate window would be stored twice."""
    ident = f"{actor.cr.metadata.generation}:{from_region}->{to_region}"
    if actor.status.failback_announced == ident:
        return
    actor.status = msgspec.structs.replace(actor.status, failback_announced=ident)
    actor.log.info("failback_pending", to=to_region)
    await actor.emit(
        AuditType.FAILBACK_PENDING,
        identity=("failback-pending", ident),
        fromPrimary=from_region,
        toPrimary=to_region,
        reason="approval-pending",
        message="failback awaiting operator approval (spec.failback.approved)",
    )
