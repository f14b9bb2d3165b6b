"""The failback approval gate of a ContinuumActor: condition ``FailbackApproval``, the
approval timeout and the ungated mode (``spec.failback``; ``docs/switchover.md``).

A failback (a move back to ``primaryRegion``) requested in the CR waits for
``spec.failback.approved`` unless ``requireApproval`` is false. While it waits, condition
``FailbackApproval`` is False with reason ``AwaitingApproval``; its ``lastTransitionTime``
(kept in the CR status) is when the wait began, so the timeout survives a restart of the
controller. Past ``approvalTimeoutSeconds`` the request is given up: reason
``ApprovalTimedOut``, ``continuum-error`` (reason ``failback-approval-timeout``), and the
request is cleared so it is not retried. When the failback runs the condition turns True
(``Approved``, or ``NotRequired`` in the ungated mode).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

import msgspec

from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "COND_FAILBACK_APPROVAL",
    "approval_granted",
    "approval_timed_out",
    "awaiting_approval",
    "gave_up",
    "pending_since",
]

COND_FAILBACK_APPROVAL: Final = "FailbackApproval"
REASON_AWAITING: Final = "AwaitingApproval"


def pending_since(actor: ContinuumActor) -> datetime | None:
    """When the current wait for approval began (from status), or None when none is on."""
    cond = actor.status.condition(COND_FAILBACK_APPROVAL)
    if cond is None or cond.status != "False" or cond.reason != REASON_AWAITING:
        return None
    return cond.last_transition_time


def gave_up(actor: ContinuumActor) -> bool:
    """This generation's failback request already timed out (its clearing is on the way):
    do not start a new wait for it."""
    cond = actor.status.condition(COND_FAILBACK_APPROVAL)
    return (
        cond is not None
        and cond.reason == "ApprovalTimedOut"
        and cond.observed_generation == (actor.cr.metadata.generation or None)
    )


def awaiting_approval(actor: ContinuumActor, from_region: str, to_region: str) -> None:
    """Mark the failback ``from_region`` → ``to_region`` as waiting for approval."""
    limit = actor.cr.spec.failback.approval_timeout_seconds
    bound = f"; given up after {limit}s" if limit else ""
    if pending_since(actor) is None:  # a new wait: its own lastTransitionTime
        kept = [c for c in actor.status.conditions if c.type != COND_FAILBACK_APPROVAL]
        actor.status = msgspec.structs.replace(actor.status, conditions=kept)
    actor.condition(
        COND_FAILBACK_APPROVAL,
        "False",
        REASON_AWAITING,
        f"failback {from_region} -> {to_region} awaits spec.failback.approved{bound}",
    )


def approval_granted(actor: ContinuumActor) -> None:
    """The failback runs: ``FailbackApproval`` True (``Approved`` or ``NotRequired``)."""
    gated = actor.cr.spec.failback.require_approval
    actor.condition(
        COND_FAILBACK_APPROVAL,
        "True",
        "Approved" if gated else "NotRequired",
        "failback approved" if gated else "failback runs without approval (requireApproval: false)",
    )


async def approval_timed_out(
    actor: ContinuumActor, from_region: str, to_region: str, waited: float
) -> None:
    """Give the request up: condition, audit, and the request cleared (never retried)."""
    limit = actor.cr.spec.failback.approval_timeout_seconds
    message = (
        f"failback approval timeout: {from_region} -> {to_region} not approved within "
        f"{limit}s (waited {waited:.0f}s); the request was cleared"
    )
    actor.log.warning("failback_approval_timeout", to=to_region, waited=round(waited, 3))
    actor.condition(COND_FAILBACK_APPROVAL, "False", "ApprovalTimedOut", message)
    await actor.emit(
        AuditType.ERROR,
        identity=("failback-approval-timeout", actor.cr.metadata.generation),
        fromPrimary=from_region,
        toPrimary=to_region,
        reason="failback-approval-timeout",
        message=message,
    )
    try:
        await actor.env.status.clear_switchover_request(actor.key)
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("clear_request_failed", error=str(exc))
    await actor.flush()
