"""The ``status`` of a Continuum CR: written by the controller only, one Struct as the source.

Everything the controller persists about a CR lives here (the CR status is the durable
store): the lease view, replication lag, the crash-safe switchover journal, the last
switchover's outcome, the last LUA records committed, the last post-switchover health
summary and the Kubernetes-style conditions. The CRD's ``status`` schema is rendered from
these Structs, so the two cannot drift.

Write path: the controller builds the complete new :class:`ContinuumStatus` and sends
:func:`encode_status_patch` — a JSON merge patch (RFC 7386) of the ``/status`` subresource
that carries only what changed, with explicit ``null`` for what was removed (so a lost
lease really clears ``leaseHolder``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from continuum.messages.dns import LuaRecord
from continuum.messages.switchover import Plan

Phase = Literal["Pending", "Healthy", "Degraded", "SwitchingOver", "FailedOver", "Failed"]
ConditionStatus = Literal["True", "False", "Unknown"]
SwitchoverStep = Literal[
    "validate-lease",
    "cordon-old-primary",
    "drain-http",
    "flip-dns",
    "swap-lease",
    "promote-new-primary",
    "audit-emit",
]
SwitchoverResult = Literal["Succeeded", "Failed", "Compensated"]
JournalState = Literal["running", "compensating", "done"]
HealthVerdict = Literal["healthy", "unhealthy", "unknown"]
CheckStatus = Literal["pass", "fail", "unknown"]

#: The seven switchover steps, in execution order (the names used everywhere).
SWITCHOVER_STEPS: Final[tuple[SwitchoverStep, ...]] = (
    "validate-lease",
    "cordon-old-primary",
    "drain-http",
    "flip-dns",
    "swap-lease",
    "promote-new-primary",
    "audit-emit",
)

COND_READY: Final = "Ready"
COND_LEASE_HELD: Final = "LeaseHeld"
COND_LAST_SWITCHOVER_HEALTHY: Final = "LastSwitchoverHealthy"
COND_AUDIT_DELIVERED: Final = "AuditDelivered"
COND_SPEC_VALID: Final = "SpecValid"
COND_STANDBY_AVAILABLE: Final = "StandbyAvailable"
COND_CONVERGED: Final = "Converged"
COND_CONFLICT: Final = "Conflict"
COND_DNS_SERVES_HOLDER: Final = "DnsServesHolder"
#: The condition types the controller writes.
CONDITION_TYPES: Final[tuple[str, ...]] = (
    COND_READY,
    COND_LEASE_HELD,
    COND_LAST_SWITCHOVER_HEALTHY,
    COND_AUDIT_DELIVERED,
    COND_SPEC_VALID,
    COND_STANDBY_AVAILABLE,
    COND_CONVERGED,
    COND_CONFLICT,
    COND_DNS_SERVES_HOLDER,
)

_CONDITION_TYPE = r"^[A-Za-z]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$"
_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

Text = Annotated[str, Meta(max_length=1024)]
LongText = Annotated[str, Meta(max_length=32768)]
StepName = SwitchoverStep
NonNegInt = Annotated[int, Meta(ge=0)]


class Condition(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One Kubernetes-style condition (``metav1.Condition`` semantics).

    ``lastTransitionTime`` changes only when ``status`` changes; use :func:`set_condition`.
    """

    type: Annotated[str, Meta(pattern=_CONDITION_TYPE, max_length=316)]
    status: ConditionStatus
    reason: Annotated[str, Meta(pattern=_REASON, min_length=1, max_length=1024)]
    message: LongText = ""
    last_transition_time: datetime | None = None
    observed_generation: NonNegInt | None = None


class ReplicationLag(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Replication lag of one region's standby half, as last measured (never a guess)."""

    seconds: Annotated[float, Meta(ge=0)]
    bytes: NonNegInt | None = None
    observed_at: datetime


class SwitchoverJournal(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """The crash-safe journal of the switchover under way, written BEFORE each step.

    After a controller restart the new actor reads it and resumes or compensates. ``epoch``
    is the lease generation the current step runs under (the fencing epoch). ``plan`` is
    the plan the run executes (so a resumed run does exactly the same thing, whatever the
    spec says by then); ``priorWeights`` and ``demotionToken`` are what compensation needs.
    """

    id: Annotated[str, Meta(min_length=1, max_length=128)]
    step: StepName
    step_index: Annotated[int, Meta(ge=1, le=7)]
    from_: Annotated[str, Meta(max_length=63)] = msgspec.field(name="from")
    to: Annotated[str, Meta(max_length=63)]
    epoch: NonNegInt
    started_at: datetime
    reason: Text = ""
    initiated_by: Text = ""
    state: JournalState = "running"
    completed_steps: list[StepName] = msgspec.field(default_factory=list)
    compensated_steps: list[StepName] = msgspec.field(default_factory=list)
    skipped_steps: list[StepName] = msgspec.field(default_factory=list)
    prior_weights: dict[str, Annotated[int, Meta(ge=0, le=1_000_000)]] = msgspec.field(
        default_factory=dict
    )
    demotion_token: Annotated[str, Meta(max_length=4096)] = ""
    plan: Plan | None = None


class LastSwitchover(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The outcome of the most recent switchover (successful or not), with from/to always set."""

    id: Annotated[str, Meta(min_length=1, max_length=128)]
    from_: Annotated[str, Meta(max_length=63)] = msgspec.field(name="from")
    to: Annotated[str, Meta(max_length=63)]
    reason: Text = ""
    initiated_by: Text = ""
    result: SwitchoverResult
    failed_at_step: StepName | None = None
    completed_steps: list[StepName] = msgspec.field(default_factory=list)
    compensated_steps: list[StepName] = msgspec.field(default_factory=list)
    failed_compensations: list[StepName] = msgspec.field(default_factory=list)
    started_at: datetime
    finished_at: datetime
    duration_seconds: Annotated[float, Meta(ge=0)]
    error: LongText = ""


class LuaRecordMirror(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """What PowerDNS last accepted (forward or rollback commit)."""

    records: list[LuaRecord] = msgspec.field(default_factory=list)


class HealthCheckSummary(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """One post-switchover health check, as summarised in status."""

    name: Annotated[str, Meta(max_length=63)]
    status: CheckStatus
    deferred: bool = False
    detail: LongText = ""


class LastHealth(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The latest post-switchover HealthReport, summarised (what ``GET …/health`` replays)."""

    checked_at: datetime
    switchover_id: Text = ""
    to_region: Annotated[str, Meta(max_length=63)] = ""
    verdict: HealthVerdict
    summary: LongText = ""
    checks: list[HealthCheckSummary] = msgspec.field(default_factory=list)


class ContinuumStatus(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """Status of a Continuum CR. Every field is optional: absent means "not known yet".

    ``actingPrimary`` is the region that holds the writer role now (after a switchover it
    differs from ``spec.primaryRegion``); ``primaryRegion`` is a copy of the spec's home
    region. ``leaseHolder`` is cleared when the lease is lost or released.
    ``crCreatedAnnounced`` holds the CR uid once ``continuum-cr-created`` was emitted, so a
    restart never repeats it; ``failbackAnnounced`` likewise the pending failback
    (``<generation>:<from>-><to>``) once ``continuum-failback-pending`` was emitted.
    ``standbyAvailable`` and ``standbyReplicaCluster`` are the last standby determination
    (written only when one is made, after ``spec.standbyGraceSeconds`` of continuous
    unavailability); a restarted controller seeds its grace window from them.
    """

    observed_generation: NonNegInt | None = None
    phase: Phase | None = None
    acting_primary: Annotated[str, Meta(max_length=63)] | None = None
    primary_region: Annotated[str, Meta(max_length=63)] | None = None
    lease_holder: Annotated[str, Meta(max_length=253)] | None = None
    lease_expires_at: datetime | None = None
    lease_generation: NonNegInt | None = None
    replication_lag: dict[str, ReplicationLag] = msgspec.field(default_factory=dict)
    max_replication_lag: Annotated[str, Meta(max_length=32)] | None = None
    standby_available: bool | None = None
    standby_replica_cluster: Annotated[str, Meta(max_length=253)] | None = None
    switchover: SwitchoverJournal | None = None
    last_switchover: LastSwitchover | None = None
    last_lua_record: LuaRecordMirror | None = None
    last_lua_record_at: datetime | None = None
    last_health: LastHealth | None = None
    cr_created_announced: Annotated[str, Meta(max_length=128)] | None = None
    failback_announced: Annotated[str, Meta(max_length=160)] | None = None
    spec_fingerprint: Annotated[str, Meta(max_length=128)] | None = None
    conditions: list[Condition] = msgspec.field(default_factory=list)

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, or None."""
        return find_condition(self.conditions, type_)


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of type ``type_`` in ``conditions``, or None."""
    for cond in conditions:
        if cond.type == type_:
            return cond
    return None


def set_condition(
    conditions: Sequence[Condition], new: Condition, now: datetime
) -> list[Condition]:
    """Return a new list with ``new`` in place of the condition of the same type.

    ``lastTransitionTime`` is kept from the existing condition when ``status`` is unchanged
    (reason/message/observedGeneration may still change) and set to ``now`` (UTC, whole
    seconds) when the status changes or the type is new. Order is preserved; a new type is
    appended. The input is never modified.
    """
    stamp = now.astimezone(UTC).replace(microsecond=0)
    old = find_condition(conditions, new.type)
    if old is not None and old.status == new.status and old.last_transition_time is not None:
        stamp = old.last_transition_time
    updated = msgspec.structs.replace(new, last_transition_time=stamp)
    out = [updated if c.type == new.type else c for c in conditions]
    if old is None:
        out.append(updated)
    return out


def format_lag(seconds: float) -> str:
    """Human form of a lag for the ``Lag`` printer column: ``0s``, ``2.5s``, ``90s``."""
    rounded = round(seconds, 1)
    text = f"{rounded:.1f}".rstrip("0").rstrip(".")
    return f"{text}s"


def max_replication_lag(lag: Mapping[str, ReplicationLag]) -> str | None:
    """The printer-column value for ``lag``: the largest measured lag, or None if none."""
    if not lag:
        return None
    return format_lag(max(entry.seconds for entry in lag.values()))


def _merge_diff(old: Any, new: Any) -> Any:
    """RFC 7386 patch turning ``old`` into ``new`` (both JSON-like, dicts compared deeply)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            if isinstance(value, dict) and isinstance(old[key], dict):
                patch[key] = _merge_diff(old[key], value)
            else:
                patch[key] = value
    return patch


def status_to_builtins(status: ContinuumStatus) -> dict[str, Any]:
    """The wire form of ``status`` (camelCase, defaults omitted, times as RFC 3339)."""
    out = msgspec.to_builtins(status)
    assert isinstance(out, dict)
    return out


def encode_status_patch(
    status: ContinuumStatus,
    *,
    previous: ContinuumStatus | None = None,
    resource_version: str | None = None,
) -> bytes:
    """JSON merge patch (``application/merge-patch+json``) for the ``/status`` subresource.

    Without ``previous`` the patch carries the whole of ``status`` (fields it leaves out are
    not touched on the server). With ``previous`` it carries only the difference, and every
    field present in ``previous`` but absent in ``status`` becomes ``null``, which deletes
    it. Lists (``conditions``, ``completedSteps``) are replaced whole, as merge patch does.
    ``resource_version`` adds ``metadata.resourceVersion`` so the API server rejects the
    patch with 409 if the object changed since it was read (optimistic concurrency).
    """
    new = status_to_builtins(status)
    body: dict[str, Any] = {
        "status": new if previous is None else _merge_diff(status_to_builtins(previous), new)
    }
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return msgspec.json.encode(body)
