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
from continuum.actors.continuum.failback import approval_granted
from continuum.actors.continuum.finalizing import (
    DELETING_BLOCKER,
    DELETING_REFUSAL,
    target_copy_refusal,
)
from continuum.actors.continuum.health_runs import health_options
from continuum.actors.continuum.observation import announce_failback_pending
from continuum.actors.continuum.runs import ports, start_run
from continuum.actors.replies import BadRequest, NotReady, SpecNotValid, SwitchoverRefused
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
    """The reason a confirmed switchover to ``to_region`` runs with: ``failback`` for a move
    back to ``primaryRegion``, else ``requested`` or ``operator-requested``. The DryRun plans
    with it too, so the plan Execute runs has the fingerprint that was confirmed."""
    if to_region == actor.cr.spec.primary_region:
        return "failback"
    return requested or "operator-requested"


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


def _refuse(reason: str, message: str, report: DryRunReport | None = None) -> SwitchoverRefused:
    return SwitchoverRefused(RefusalDetail(reason=reason, message=message, report=report))


async def switchover(actor: ContinuumActor, request: SwitchoverRequest) -> SwitchoverAccepted:
    """Start a switchover (Confirm Switchover). Refused unless the CR is not being deleted,
    this instance is the acting writer, none is running, the fingerprint matches a fresh
    DryRun without blockers, and a failback to ``primaryRegion`` is approved in the spec."""
    if actor.cr.deleting:
        raise _refuse(
            DELETING_REFUSAL,
            f"{actor.key} is being deleted in {actor.region} (metadata.deletionTimestamp is "
            "set): no new switchover starts; the controller removes its finalizer once no "
            "run is in flight",
        )
    if actor.running is not None:
        raise _refuse("already-running", f"switchover {actor.running.id} is running")
    if not actor.acting():
        raise _refuse(
            "not-acting",
            f"region {actor.region} is not the acting writer; ask the instance of "
            f"{actor.acting_primary()}",
        )
    report = await compute_dry_run(actor, request.toRegion, request.reason, use_cache=False)
    if report.planFingerprint != request.fingerprint:
        raise _refuse(
            "fingerprint-mismatch",
            "the plan changed since it was previewed; review the new DryRun and confirm again",
            report,
        )
    if report.blockers:
        raise _refuse("blockers", "; ".join(report.blockers), report)
    spec = actor.cr.spec
    from_region = actor.acting_primary()
    failback = request.toRegion == spec.primary_region
    if failback and not spec.failback.require_approval:  # ungated: still announced first
        await announce_failback_pending(actor, from_region, request.toRegion)
    elif failback and not spec.failback.approved:
        await announce_failback_pending(actor, from_region, request.toRegion)
        raise _refuse(
            "failback-approval-required",
            f"moving the writer back to {spec.primary_region} needs spec.failback.approved",
            report,
        )
    if failback:
        approval_granted(actor)
    sid = start_run(
        actor,
        from_region=from_region,
        to_region=request.toRegion,
        reason=executed_reason(actor, request.toRegion, request.reason),
        initiated_by=request.initiatedBy or "api",
        unplanned=False,
        from_request=False,
    )
    await actor.flush()
    return SwitchoverAccepted(
        id=sid,
        fromRegion=from_region,
        toRegion=request.toRegion,
        planFingerprint=report.planFingerprint,
    )
