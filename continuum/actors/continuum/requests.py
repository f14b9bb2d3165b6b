"""How a ContinuumActor answers the API's requests (called from its ``on_message``).

DryRun is read-only end to end and cached briefly; a switchover request is the Confirm
button: it starts a run only when its fingerprint equals the current DryRun's and that DryRun
has no blockers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import msgspec

from continuum import metrics
from continuum.actors.continuum.failback import announce_failback_pending, failback_runs
from continuum.actors.continuum.finalizing import DELETING_BLOCKER, target_copy_refusal
from continuum.actors.continuum.health_runs import health_options
from continuum.actors.continuum.runs import ports, start_run
from continuum.actors.replies import BadRequest, NotReady, SpecNotValid, SwitchoverRefused
from continuum.core import admission
from continuum.errors import InvalidSpec
from continuum.messages.lease import Lease
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    RefusalDetail,
    SwitchoverAccepted,
    SwitchoverRequest,
)
from continuum.messages.switchover import DryRunReport, HealthReport
from continuum.switchover.dryrun import dry_run as run_dry_run
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.health import post_switchover_health

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["dry_run", "health", "summary", "switchover"]


def _check_target(actor: ContinuumActor, to_region: str) -> str:
    if actor.spec_error is not None:
        field, message = actor.spec_error
        raise SpecNotValid(f"spec is invalid ({field}: {message}); fix it before planning")
    spec = actor.cr.spec
    if to_region not in spec.all_regions():
        raise BadRequest(
            f"toRegion {to_region!r} is not a region of {actor.key} "
            f"(regions: {', '.join(spec.all_regions())})",
            field="body.toRegion",
        )
    return actor.acting_primary()


def executed_reason(actor: ContinuumActor, to_region: str, requested: str) -> str:
    """The reason a confirmed switchover to ``to_region`` runs with
    (:func:`continuum.core.admission.executed_reason`)."""
    return admission.executed_reason(
        to_region=to_region, primary_region=actor.cr.spec.primary_region, requested=requested
    )


def _cache_token(actor: ContinuumActor) -> tuple[Any, ...]:
    lease = actor.lease_view or Lease(key=actor.key)
    return (
        actor.cr.metadata.generation,
        actor.status.spec_fingerprint,
        lease.holder,
        lease.is_free_at(actor.clock.now()),
        actor.witness_error,
        actor.status.replication_lag and tuple(sorted(actor.status.replication_lag)),
        actor.status.standby_available,
        actor.running is not None,
        actor.cr.deleting,
    )


async def compute_dry_run(
    actor: ContinuumActor, to_region: str, reason: str, *, use_cache: bool = True
) -> DryRunReport:
    """The DryRun for ``to_region``: read-only; served from a cache entry when it was made
    from the same spec and the same observed state within ``dryrun_cache_seconds``."""
    from_region = _check_target(actor, to_region)
    token = _cache_token(actor)
    key = (to_region, reason)
    now = actor.clock.monotonic()
    cached = actor.dryrun_cache.get(key)
    if use_cache and cached is not None:
        report, cached_token, made = cached
        if cached_token == token and now - made < actor.env.dryrun_cache_seconds:
            assert isinstance(report, DryRunReport)
            return report
    epoch = actor.epoch
    plan = plan_from_spec(
        actor.cr,
        from_region=from_region,
        to_region=to_region,
        reason=executed_reason(actor, to_region, reason),
        initiated_by="",
        epoch=epoch,
        timeouts=actor.env.timeouts,
    )
    try:
        report = await run_dry_run(plan, ports(actor, writes=False), epoch=epoch)
    except InvalidSpec as exc:
        raise BadRequest(f"dry-run: {exc}", field=exc.field or "body") from None
    extra = [DELETING_BLOCKER] if actor.cr.deleting else []
    refusal = await target_copy_refusal(actor, to_region)
    if refusal:
        extra.append(f"step-5: {refusal}")
    if extra:
        report = msgspec.structs.replace(report, blockers=[*report.blockers, *extra])
    actor.dryrun_cache[key] = (report, token, now)
    metrics.count_dryrun(blocked=bool(report.blockers))
    return report


async def dry_run(actor: ContinuumActor, request: DryRunRequest) -> DryRunReport:
    return await compute_dry_run(actor, request.toRegion, request.reason)


async def health(actor: ContinuumActor, *, fresh: bool) -> HealthReport:
    """The latest post-switchover report, or one computed now against the acting primary."""
    if actor.health is not None and not fresh:
        return actor.health
    if actor.spec_error is not None:
        raise SpecNotValid("spec is invalid; health cannot be computed")
    to_region = actor.acting_primary()
    others = [r for r in actor.cr.spec.all_regions() if r != to_region]
    if not others:
        raise NotReady("no region to compare against")
    last = actor.status.last_switchover
    plan = plan_from_spec(
        actor.cr,
        from_region=others[0],
        to_region=to_region,
        reason="health",
        initiated_by="",
        epoch=0,
        timeouts=actor.env.timeouts,
    )
    sid = last.id if last is not None and last.to == to_region else ""
    options = dataclasses.replace(health_options(actor), after_switchover=bool(sid))
    report = await post_switchover_health(plan, options, switchover_id=sid)
    metrics.count_health_run(report.verdict)
    return report


def summary(actor: ContinuumActor) -> ContinuumSummary:
    status, spec = actor.status, actor.cr.spec
    lease = actor.lease_view
    return ContinuumSummary(
        namespace=actor.cr.metadata.namespace,
        name=actor.cr.metadata.name,
        region=actor.region,
        acting=actor.acting(),
        phase=status.phase or "",
        applicationRef=spec.application_ref,
        primaryRegion=spec.primary_region,
        actingPrimary=actor.acting_primary(),
        hotStandbyRegions=list(spec.hot_standby_regions),
        leaseHolder=lease.holder if lease else (status.lease_holder or ""),
        leaseGeneration=lease.generation if lease else (status.lease_generation or 0),
        leaseExpiresAt=lease.expires_at if lease else status.lease_expires_at,
        switchover=status.switchover,
        lastSwitchover=status.last_switchover,
        lastHealth=status.last_health,
        specError=": ".join(actor.spec_error) if actor.spec_error else "",
        conditions=list(status.conditions),
    )


def _facts(actor: ContinuumActor) -> admission.AdmissionFacts:
    spec = actor.cr.spec
    return admission.AdmissionFacts(
        key=actor.key,
        region=actor.region,
        primary_region=spec.primary_region,
        acting_primary=actor.acting_primary(),
        acting=actor.acting(),
        deleting=actor.cr.deleting,
        running_id=actor.running.id if actor.running is not None else "",
        require_approval=spec.failback.require_approval,
        approved=spec.failback.approved,
    )


def _refuse(refused: admission.Refused, report: DryRunReport | None = None) -> SwitchoverRefused:
    return SwitchoverRefused(
        RefusalDetail(
            reason=refused.reason,
            message=refused.message,
            report=report if refused.with_report else None,
        )
    )


async def switchover(actor: ContinuumActor, request: SwitchoverRequest) -> SwitchoverAccepted:
    """Start a switchover (Confirm Switchover) as :func:`continuum.core.admission.admit`
    decides: refused (409, ``SwitchoverRefused``) unless the CR is not being deleted, this
    instance is the acting writer, none is running, the fingerprint matches a fresh DryRun
    without blockers, and a failback to ``primaryRegion`` is approved in the spec. A DryRun
    that cannot be made answers as :func:`compute_dry_run` does (400 for a no-op target)."""
    ask = admission.SwitchoverAsk(
        to_region=request.toRegion,
        fingerprint=request.fingerprint,
        reason=request.reason,
        initiated_by=request.initiatedBy,
    )
    decision = admission.admit(_facts(actor), ask, None)
    if isinstance(decision, admission.Refused):
        raise _refuse(decision)
    report = await compute_dry_run(actor, request.toRegion, request.reason, use_cache=False)
    preview = admission.Preview(fingerprint=report.planFingerprint, blockers=tuple(report.blockers))
    decision = admission.admit(_facts(actor), ask, preview)
    if isinstance(decision, admission.NeedsPreview):  # pragma: no cover - admit's contract
        raise AssertionError("admission asked for a DryRun it was given")
    if isinstance(decision, admission.Refused):
        if decision.announce_failback:
            await announce_failback_pending(actor, actor.acting_primary(), request.toRegion)
        raise _refuse(decision, report)
    if decision.failback:
        await failback_runs(actor, decision.from_region, decision.to_region)
    sid = start_run(
        actor,
        from_region=decision.from_region,
        to_region=decision.to_region,
        reason=decision.reason,
        initiated_by=decision.initiated_by,
        unplanned=False,
        from_request=False,
    )
    await actor.flush()
    return SwitchoverAccepted(
        id=sid,
        fromRegion=decision.from_region,
        toRegion=decision.to_region,
        planFingerprint=report.planFingerprint,
    )
