"""Pure rules that turn what a ContinuumActor knows into status fields and conditions."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

import msgspec

from continuum.messages.crd import ContinuumSpec
from continuum.messages.lease import Lease
from continuum.messages.status import (
    COND_LEASE_HELD,
    COND_READY,
    Condition,
    ConditionStatus,
    LastSwitchover,
    Phase,
    SwitchoverJournal,
    SwitchoverStep,
)
from continuum.messages.switchover import JournalEntry, StepName, SwitchoverResult, step_number

__all__ = [
    "compute_phase",
    "entry_from_journal",
    "journal_from_entry",
    "last_switchover",
    "lease_condition",
    "ready_condition",
    "spec_fingerprint",
]

#: The spec fields whose change alters what a switchover would do (drift detection).
_RELEVANT = (
    "primaryRegion",
    "hotStandbyRegions",
    "leaseClient",
    "rto",
    "autoFailover",
    "autoFailoverObservations",
    "maxLagSeconds",
    "cnpgPair",
    "httpRoute",
    "pdmZone",
    "regions",
    "luaRecord",
)
_RELEVANT_SWITCHOVER = ("mechanism", "cnpgMode", "drainSeconds")


def spec_fingerprint(spec: ContinuumSpec) -> str:
    """16 hex digits over a canonical JSON (sorted keys, compact) of the switchover-relevant
    spec fields: never the request/approval flags or health settings."""
    raw: dict[str, Any] = msgspec.to_builtins(spec)
    doc = {k: raw[k] for k in _RELEVANT if k in raw}
    doc["switchover"] = {
        k: raw.get("switchover", {}).get(k)
        for k in _RELEVANT_SWITCHOVER
        if k in raw.get("switchover", {})
    }
    canonical = msgspec.json.encode(_sorted(doc))
    return hashlib.sha256(canonical).hexdigest()[:16]


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def compute_phase(
    *,
    spec_invalid: bool,
    running: bool,
    lease: Lease | None,
    witness_error: str,
    now: datetime,
    home_region: str,
    standby_available: bool | None,
    disagreement: str = "",
    dns_fallback: str = "",
) -> Phase:
    """The phase, by the first rule that applies: invalid spec → Failed; a switchover under
    way → SwitchingOver; lease never read → Pending; witness unreachable, or nobody holds a
    live lease → Degraded; the world observed disagreeing with the holder
    (``disagreement``, :mod:`continuum.core.converge`), or PowerDNS answering another
    region's addresses while the records name the holder (``dns_fallback``,
    :mod:`continuum.core.dns_serving`) → Degraded; standby known
    unavailable → Degraded; writer away from ``primaryRegion`` → FailedOver; else
    Healthy."""
    if spec_invalid:
        return "Failed"
    if running:
        return "SwitchingOver"
    if lease is None:
        return "Degraded" if witness_error else "Pending"
    if witness_error or lease.is_free_at(now):
        return "Degraded"
    if disagreement or dns_fallback or standby_available is False:
        return "Degraded"
    return "Healthy" if lease.holder == home_region else "FailedOver"


def ready_condition(phase: Phase, message: str) -> Condition:
    status: ConditionStatus = (
        "True"
        if phase in ("Healthy", "FailedOver")
        else ("Unknown" if phase in ("Pending", "SwitchingOver") else "False")
    )
    return Condition(type=COND_READY, status=status, reason=phase, message=message)


def lease_condition(
    *,
    region: str,
    lease: Lease | None,
    acting: bool,
    witness_error: str,
    overdue: bool,
    now: datetime,
) -> Condition:
    """``LeaseHeld``: True only while this instance may act as writer; the reason says why
    not otherwise (HeldByPeer, Free, Expired, RenewOverdue, WitnessUnavailable)."""

    def cond(status: ConditionStatus, reason: str, message: str) -> Condition:
        return Condition(type=COND_LEASE_HELD, status=status, reason=reason, message=message)

    # Messages never carry what changes on every renewal (generation, expiry): a condition
    # that changed on every renew would cost a status write per CR per renew interval.
    if acting and lease is not None:
        return cond("True", "HeldBySelf", f"held by {region}, which acts as writer")
    if overdue:
        return cond(
            "False",
            "RenewOverdue",
            f"no successful renew within ttl - safety margin: {region} stopped acting as writer",
        )
    if witness_error:
        return cond("False", "WitnessUnavailable", witness_error[:900])
    if lease is None:
        return cond("Unknown", "NotRead", "the witness has not been read yet")
    if lease.holder == "":
        return cond("False", "Free", "nobody holds the lease")
    if lease.is_free_at(now):
        return cond("False", "Expired", f"lease of {lease.holder} expired")
    return cond("False", "HeldByPeer", f"held by {lease.holder}, not {region}")


def journal_from_entry(entry: JournalEntry) -> SwitchoverJournal:
    """The status form of a journal entry (human-readable summary + what resuming needs)."""
    state = {"forward": "running", "compensating": "compensating", "done": "done"}[entry.phase]
    return SwitchoverJournal(
        id=entry.id,
        step=entry.step.value,
        step_index=step_number(entry.step),
        from_=entry.plan.from_region,
        to=entry.plan.to_region,
        epoch=entry.epoch,
        started_at=datetime.fromisoformat(entry.started_at.replace("Z", "+00:00")),
        reason=entry.plan.reason,
        initiated_by=entry.plan.initiated_by,
        state=state,  # type: ignore[arg-type]
        completed_steps=[s.value for s in entry.completed],
        compensated_steps=[s.value for s in entry.compensated],
        skipped_steps=[s.value for s in entry.skipped],
        prior_weights=dict(entry.prior_weights),
        demotion_token=entry.demotion_token,
        plan=entry.plan,
    )


def entry_from_journal(journal: SwitchoverJournal) -> JournalEntry | None:
    """The journal entry a new actor resumes from; ``None`` when the status journal has no
    plan (written by an older version: it cannot be resumed, only reported)."""
    if journal.plan is None:
        return None
    phase = {"running": "forward", "compensating": "compensating", "done": "done"}[journal.state]
    return JournalEntry(
        id=journal.id,
        plan=journal.plan,
        step=StepName(journal.step),
        phase=phase,  # type: ignore[arg-type]
        epoch=journal.epoch,
        started_at=journal.started_at.isoformat().replace("+00:00", "Z"),
        completed=tuple(StepName(s) for s in journal.completed_steps),
        compensated=tuple(StepName(s) for s in journal.compensated_steps),
        skipped=tuple(StepName(s) for s in journal.skipped_steps),
        prior_weights=dict(journal.prior_weights),
        demotion_token=journal.demotion_token,
    )


def last_switchover(
    result: SwitchoverResult, *, reason: str, initiated_by: str, duration: float
) -> LastSwitchover:
    """``status.lastSwitchover`` from a run's result (``from`` and ``to`` always set,
    so a reader never has to guess the direction from a half-filled record).
    ``Succeeded`` only for a run that switched (never for one rolled back, even when nothing
    needed undoing); ``Compensated`` for a rollback without a failed undo; else ``Failed``."""
    if result.ok and not result.compensated and not result.rolled_back:
        outcome = "Succeeded"
    elif (result.compensated or (result.ok and result.rolled_back)) and not (
        result.compensation_failures
    ):
        outcome = "Compensated"
    else:
        outcome = "Failed"

    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return LastSwitchover(
        id=result.id,
        from_=result.from_region,
        to=result.to_region,
        reason=reason,
        initiated_by=initiated_by,
        result=outcome,  # type: ignore[arg-type]
        failed_at_step=result.failed_step.value if result.failed_step else None,
        completed_steps=[s.value for s in result.steps_completed],
        compensated_steps=[s.value for s in result.compensated],
        failed_compensations=cast(
            "list[SwitchoverStep]",
            [s for s in result.compensation_failures if not s.startswith("journal:")],
        ),
        started_at=stamp(result.started_at),
        finished_at=stamp(result.finished_at),
        duration_seconds=max(0.0, duration),
        error=result.error[:4000],
    )
