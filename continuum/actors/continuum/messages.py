"""Messages a ContinuumActor sends itself: timers and the outcomes of its child tasks."""

from __future__ import annotations

import msgspec

from continuum.core import converge, observation
from continuum.core.dns_serving import ServedAnswer
from continuum.core.lease import WitnessAnswered, WitnessRefused
from continuum.core.roles import TouchRoleSecrets
from continuum.messages.replication import ReplicationObservation
from continuum.messages.switchover import (
    HealthReport,
    PairState,
    Plan,
    StepEvent,
    SwitchoverResult,
)


class RenewDue(msgspec.Struct, frozen=True, kw_only=True):
    """Time to renew (as holder) or to read the lease (as standby). With ``observe`` (the
    repeating tick at ``renewSeconds``), then to observe the world (the pair's lag and
    readiness, DNS, every region's route) once that refresh is over: the reads start in a
    child task; :class:`WorldObserved` brings them back. One timer per actor does both."""

    observe: bool = False


class FenceRetryDue(msgspec.Struct, frozen=True):
    """Time to observe again after a demotion of a second primary failed
    (:func:`continuum.core.observation.fence_retry`)."""


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


class WorldReads(msgspec.Struct, frozen=True, kw_only=True):
    """What one observation read, each part bounded on its own.

    ``pair``: the pair as read (``None`` with ``pair_error`` "": not configured; with
    ``pair_error``: unreadable). ``probe``: ``pg_stat_replication`` on the writer's half
    (``None``: not configured, not asked or failed). ``dns_wrong``: the hostnames whose
    records do not name the holder the observation was made for (``None``: not configured or
    unreadable). ``dns_error``: why the configured records could not be read ("" when read
    or not configured). ``routes``: by region, that region's copy of the route's weights (``None``:
    unreadable; absent: not configured). ``answers``: what the authoritative servers answered
    for each hostname (``None``: not observed — no server configured, or not read in time).
    ``route_records``: by region, the weights recorded on that copy of the route before its
    last drain (absent: none recorded, or the copy unreadable).
    """

    pair: PairState | None = None
    pair_error: str = ""
    probe: ReplicationObservation | None = None
    dns_wrong: tuple[str, ...] | None = None
    dns_error: str = ""
    routes: dict[str, dict[str, int] | None] = msgspec.field(default_factory=dict)
    answers: tuple[ServedAnswer, ...] | None = None
    route_records: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)


class WorldObserved(msgspec.Struct, frozen=True, kw_only=True):
    """The reads of observation ``seq`` (made by a child task) came back; ``reads`` is
    ``None`` when the child failed unexpectedly (``error`` says how)."""

    seq: int
    reads: WorldReads | None
    error: str = ""


class Repaired(msgspec.Struct, frozen=True, kw_only=True):
    """One write of an observation's repair: ``error`` "" when it was made; ``touched``: the
    Secrets a role touch touched."""

    action: observation.Converge | converge.Converge | TouchRoleSecrets
    error: str = ""
    touched: tuple[str, ...] = ()


class WorldRepaired(msgspec.Struct, frozen=True, kw_only=True):
    """The repair writes observation ``seq`` decided are over (made by a child task):
    ``done`` holds one entry per write attempted, in order (a write the fence stopped is
    absent); ``after`` is the world read again once a write of it was made (``None``: not
    read). ``error``: the child failed unexpectedly."""

    seq: int
    done: tuple[Repaired, ...] = ()
    after: WorldReads | None = None
    error: str = ""
