"""Messages a ContinuumActor sends itself: timers and the outcomes of its child tasks."""

from __future__ import annotations

import msgspec

from continuum.core.lease import WitnessAnswered, WitnessRefused
from continuum.messages.switchover import HealthReport, Plan, StepEvent, SwitchoverResult


class RenewDue(msgspec.Struct, frozen=True):
    """Time to renew (as holder) or to read the lease (as standby)."""


class ObserveDue(msgspec.Struct, frozen=True):
    """Time to observe the pair (lag, readiness) and evaluate the triggers."""


class StatusRetryDue(msgspec.Struct, frozen=True):
    """Time to try a refused status write again (:mod:`continuum.core.status_retry`)."""


class HealthDue(msgspec.Struct, frozen=True, kw_only=True):
    """Time for the post-switchover health check of run ``switchover_id``."""

    switchover_id: str
    plan: Plan


class StepProgress(msgspec.Struct, frozen=True, kw_only=True):
    """A switchover run reports a step; asked, so the journal is durable before the step."""

    event: StepEvent


class SwitchoverDone(msgspec.Struct, frozen=True, kw_only=True):
    result: SwitchoverResult
    from_request: bool = False


class SwitchoverCrashed(msgspec.Struct, frozen=True, kw_only=True):
    switchover_id: str
    error: str


class HealthDone(msgspec.Struct, frozen=True, kw_only=True):
    switchover_id: str
    report: HealthReport


class HealthCrashed(msgspec.Struct, frozen=True, kw_only=True):
    switchover_id: str
    error: str


class WitnessReplied(msgspec.Struct, frozen=True, kw_only=True):
    """A witness call made by a child task for a timer-driven lease refresh answered (or
    failed): ``event`` is the lease rule's next event
    (:class:`~continuum.core.lease.WitnessAnswered` or ``WitnessRefused``)."""

    event: WitnessAnswered | WitnessRefused
