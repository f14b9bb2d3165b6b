"""The failback approval gate: a pure decision over condition ``FailbackApproval``.

A failback (a move back to ``primaryRegion``) requested in the CR waits for
``spec.failback.approved`` unless ``requireApproval`` is false (the ungated mode). The
trigger rule (:func:`continuum.switchover.triggers.decide_trigger`) says *that* a failback
waits, has waited too long, or runs; this rule says what that does to the CR:

* **waits** (:class:`Waits`): eligible only while this generation's request has not been
  given up yet (the hold-off: a request that timed out is not waited for again until the
  spec changes, i.e. a new ``metadata.generation``). A new wait starts the condition afresh
  (``False``/``AwaitingApproval``, its ``lastTransitionTime`` is when the wait began, kept
  in status so the timeout survives a restart); a wait already on keeps it. The failback is
  announced (``continuum-failback-pending``; the shell emits it once per generation and
  direction);
* **timed out** (:class:`TimedOut`): ``False``/``ApprovalTimedOut``, a ``continuum-error``
  (reason ``failback-approval-timeout``, once per generation), and the request cleared so it
  is not retried;
* **runs** (:class:`Runs`): ``True``, ``Approved`` (gated) or ``NotRequired`` (ungated, and
  then announced first).

Never does I/O, never reads a clock (the wait's start comes from the condition), never
raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

from continuum.messages.status import Condition

__all__ = [
    "COND_FAILBACK_APPROVAL",
    "REASON_AWAITING",
    "REASON_TIMED_OUT",
    "Announce",
    "ClearRequest",
    "Effect",
    "EmitTimeout",
    "Event",
    "GateFacts",
    "Runs",
    "SetCondition",
    "TimedOut",
    "Waits",
    "decide",
    "gave_up",
    "pending_since",
]

COND_FAILBACK_APPROVAL: Final = "FailbackApproval"
REASON_AWAITING: Final = "AwaitingApproval"
REASON_TIMED_OUT: Final = "ApprovalTimedOut"


class GateFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate looks at: condition ``FailbackApproval`` as status has it (``None``:
    never set), the CR's ``metadata.generation`` (``None``: unknown) and ``spec.failback``."""

    condition: Condition | None
    generation: int | None
    require_approval: bool = True
    approval_timeout_seconds: int = 0


class Waits(msgspec.Struct, frozen=True, kw_only=True):
    """The trigger rule found the failback ``from_region`` → ``to_region`` waiting."""

    from_region: str
    to_region: str


class TimedOut(msgspec.Struct, frozen=True, kw_only=True):
    """The trigger rule found it waiting past the timeout, ``waited`` seconds in all."""

    from_region: str
    to_region: str
    waited: float


class Runs(msgspec.Struct, frozen=True, kw_only=True):
    """The failback ``from_region`` → ``to_region`` starts now."""

    from_region: str
    to_region: str


Event = Waits | TimedOut | Runs


class SetCondition(msgspec.Struct, frozen=True, kw_only=True):
    """Set ``FailbackApproval``; ``fresh``: drop the one there first, so the condition gets
    its own ``lastTransitionTime`` (a new wait)."""

    status: Literal["True", "False"]
    reason: str
    message: str
    fresh: bool = False


class Announce(msgspec.Struct, frozen=True, kw_only=True):
    """Announce ``continuum-failback-pending`` (the shell emits it once per generation and
    direction)."""

    from_region: str
    to_region: str


class EmitTimeout(msgspec.Struct, frozen=True, kw_only=True):
    """Audit ``continuum-error`` (reason ``failback-approval-timeout``) once per
    ``generation``; log the ``waited`` seconds."""

    from_region: str
    to_region: str
    message: str
    waited: float
    generation: int | None


class ClearRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Clear ``spec.switchover.requested`` so the request is not retried."""


Effect = SetCondition | Announce | EmitTimeout | ClearRequest


def pending_since(condition: Condition | None) -> datetime | None:
    """When the current wait for approval began, or ``None`` when none is on (the condition
    is not ``False``/``AwaitingApproval``)."""
    if condition is None or condition.status != "False" or condition.reason != REASON_AWAITING:
        return None
    return condition.last_transition_time


def gave_up(condition: Condition | None, generation: int | None) -> bool:
    """This generation's failback request already timed out (its clearing is on the way):
    no new wait starts for it."""
    return (
        condition is not None
        and condition.reason == REASON_TIMED_OUT
        and condition.observed_generation == generation
    )


def decide(facts: GateFacts, event: Event) -> list[Effect]:
    """The effects of ``event`` on the gate, in the order the shell carries them out (see
    the module docstring). A wait for a request given up this generation has none."""
    if isinstance(event, Waits):
        if gave_up(facts.condition, facts.generation):
            return []
        limit = facts.approval_timeout_seconds
        bound = f"; given up after {limit}s" if limit else ""
        return [
            Announce(from_region=event.from_region, to_region=event.to_region),
            SetCondition(
                status="False",
                reason=REASON_AWAITING,
                message=f"failback {event.from_region} -> {event.to_region} awaits "
                f"spec.failback.approved{bound}",
                fresh=pending_since(facts.condition) is None,
            ),
        ]
    if isinstance(event, TimedOut):
        message = (
            f"failback approval timeout: {event.from_region} -> {event.to_region} not "
            f"approved within {facts.approval_timeout_seconds}s (waited {event.waited:.0f}s); "
            "the request was cleared"
        )
        return [
            SetCondition(status="False", reason=REASON_TIMED_OUT, message=message),
            EmitTimeout(
                from_region=event.from_region,
                to_region=event.to_region,
                message=message,
                waited=event.waited,
                generation=facts.generation,
            ),
            ClearRequest(),
        ]
    gated = facts.require_approval
    granted = SetCondition(
        status="True",
        reason="Approved" if gated else "NotRequired",
        message="failback approved"
        if gated
        else "failback runs without approval (requireApproval: false)",
    )
    if gated:
        return [granted]
    return [Announce(from_region=event.from_region, to_region=event.to_region), granted]
