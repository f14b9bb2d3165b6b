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
from continuum.actors.mailbox import ActorCrashed, Reply, ReplyError, describe
from continuum.actors.replies import BadRequest, NotReady, SpecNotValid, SwitchoverRefused
from continuum.core import admission
from continuum.errors import ContinuumError, InvalidSpec
from continuum.messages.lease import Lease
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    RefusalDetail,
    SwitchoverAccepted,
    SwitchoverRequest,
)
from continuum.messages.switchover import DryRunReport, HealthReport, Plan
from continuum.switchover.dryrun import dry_run as run_dry_run
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.health import post_switchover_health

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "DryRunMade",
    "HealthMade",
    "SwitchoverPreviewed",
    "dry_run",
    "dry_run_made",
    "health",
    "health_made",
    "summary",
    "switchover",
    "switchover_previewed",
]


@dataclasses.dataclass(frozen=True)
class _Preview:
    """A DryRun being made: what it was planned from, captured in the mailbox."""

    to_region: str
    reason: str
    plan: Plan
    token: tuple[Any, ...]
    made: float


class DryRunMade(msgspec.Struct, frozen=True, kw_only=True):
    """The DryRun a child task made for a deferred ask came back (``report`` ``None``: it
    failed with ``error``)."""

    reply: Reply
    preview: _Preview
    report: tuple[DryRunReport, str] | None = None
    error: BaseException | None = None


class SwitchoverPreviewed(msgspec.Struct, frozen=True, kw_only=True):
    """The fresh DryRun of switchover request ``request`` came back (as :class:`DryRunMade`)."""

    reply: Reply
    request: SwitchoverRequest
    preview: _Preview
    report: tuple[DryRunReport, str] | None = None
    error: BaseException | None = None


class HealthMade(msgspec.Struct, frozen=True, kw_only=True):
    """An on-demand health check made by a child task came back (``report`` ``None``: it
    failed with ``error``)."""

    reply: Reply
    report: HealthReport | None = None
    error: BaseException | None = None


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


def _cached(actor: ContinuumActor, to_region: str, reason: str) -> DryRunReport | None:
    cached = actor.dryrun_cache.get((to_region, reason))
    if cached is None:
        return None
    report, token, made = cached
    if token != _cache_token(actor):
        return None
    if actor.clock.monotonic() - made >= actor.env.dryrun_cache_seconds:
        return None
    assert isinstance(report, DryRunReport)
    return report


def _plan_preview(actor: ContinuumActor, to_region: str, reason: str) -> _Preview:
    """Plan the DryRun for ``to_region`` from the CR as it is now. Raises ``SpecNotValid`` or
    ``BadRequest`` (a target that is no region of the CR)."""
    from_region = _check_target(actor, to_region)
    plan = plan_from_spec(
        actor.cr,
        from_region=from_region,
        to_region=to_region,
        reason=executed_reason(actor, to_region, reason),
        initiated_by="",
        epoch=actor.epoch,
        timeouts=actor.env.timeouts,
    )
    return _Preview(to_region, reason, plan, _cache_token(actor), actor.clock.monotonic())


async def _make_preview(actor: ContinuumActor, preview: _Preview) -> tuple[DryRunReport, str]:
    """The DryRun's reads (witness, pair, routes, DNS, the target's copy of the CR): in a child
    task, so renewals and observations go on while they run. Reads nothing of the actor's
    state that a message may change meanwhile."""
    try:
        report = await run_dry_run(
            preview.plan, ports(actor, writes=False), epoch=preview.plan.epoch
        )
    except InvalidSpec as exc:
        raise BadRequest(f"dry-run: {exc}", field=exc.field or "body") from None
    return report, await target_copy_refusal(actor, preview.to_region)


def _preview_made(
    actor: ContinuumActor, preview: _Preview, made: tuple[DryRunReport, str]
) -> DryRunReport:
    """Back in the mailbox: add the blockers of the CR being deleted (as it is now) and of
    the target's copy (``made``'s refusal), cache, count."""
    report, refusal = made
    extra = [DELETING_BLOCKER] if actor.cr.deleting else []
    if refusal:
        extra.append(f"step-5: {refusal}")
    if extra:
        report = msgspec.structs.replace(report, blockers=[*report.blockers, *extra])
    actor.dryrun_cache[(preview.to_region, preview.reason)] = (
        report,
        preview.token,
        preview.made,
    )
    metrics.count_dryrun(blocked=bool(report.blockers))
    return report


def _failed(what: str, error: BaseException) -> ContinuumError:
    """The answer for a preview whose child failed: its own ``ReplyError``, else a crash
    report (the actor itself keeps running: a read-only preview changed nothing)."""
    if isinstance(error, ReplyError):
        return error
    crashed = ActorCrashed(f"{what} failed: {describe(error)}")
    crashed.__cause__ = error
    return crashed


def dry_run(actor: ContinuumActor, request: DryRunRequest) -> DryRunReport | None:
    """The DryRun for ``request.toRegion``: read-only. Answered at once from the cache when
    one was made from the same spec and the same observed state within
    ``dryrun_cache_seconds``; otherwise the ask is deferred and answered once a child task
    made it (:class:`DryRunMade`): the mailbox never waits on the DryRun's reads. Raises
    ``SpecNotValid`` or ``BadRequest`` before any read."""
    cached = _cached(actor, request.toRegion, request.reason)
    if cached is not None:
        return cached
    preview = _plan_preview(actor, request.toRegion, request.reason)
    reply = actor.ctx.defer_reply()
    actor.ctx.start_child(
        lambda: _make_preview(actor, preview),
        on_result=lambda report: DryRunMade(reply=reply, preview=preview, report=report),
        on_error=lambda exc: DryRunMade(reply=reply, preview=preview, error=exc),
        name=f"{actor.key}:dry-run",
    )
    return None


def dry_run_made(actor: ContinuumActor, message: DryRunMade) -> None:
    if message.report is None:
        message.reply.fail(_failed("dry-run", message.error or RuntimeError("no report")))
        return
    message.reply.resolve(_preview_made(actor, message.preview, message.report))


def health(actor: ContinuumActor, *, fresh: bool) -> HealthReport | None:
    """The latest post-switchover report; with ``fresh`` (or none yet), one computed against
    the acting primary by a child task, the ask deferred until it is (:class:`HealthMade`).
    Raises ``SpecNotValid``, or ``NotReady`` without a region to compare against."""
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
    reply = actor.ctx.defer_reply()
    actor.ctx.start_child(
        lambda: post_switchover_health(plan, options, switchover_id=sid),
        on_result=lambda report: HealthMade(reply=reply, report=report),
        on_error=lambda exc: HealthMade(reply=reply, error=exc),
        name=f"{actor.key}:health",
    )
    return None


def health_made(message: HealthMade) -> None:
    if message.report is None:
        message.reply.fail(_failed("health", message.error or RuntimeError("no report")))
        return
    metrics.count_health_run(message.report.verdict)
    message.reply.resolve(message.report)


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


def switchover(actor: ContinuumActor, request: SwitchoverRequest) -> None:
    """Start a switchover (Confirm Switchover) as :func:`continuum.core.admission.admit`
    decides: refused (409, ``SwitchoverRefused``) unless the CR is not being deleted, this
    instance is the acting writer, none is running, the fingerprint matches a fresh DryRun
    without blockers, and a failback to ``primaryRegion`` is approved in the spec. A DryRun
    that cannot be made answers as :func:`dry_run` does (400 for a no-op target).

    What can be refused without reads is refused at once; otherwise the ask is deferred while
    a child task makes the fresh DryRun (the mailbox keeps renewing), and
    :func:`switchover_previewed` decides again on the facts as they are then."""
    decision = admission.admit(_facts(actor), _ask(request), None)
    if isinstance(decision, admission.Refused):
        raise _refuse(decision)
    preview = _plan_preview(actor, request.toRegion, request.reason)
    reply = actor.ctx.defer_reply()
    actor.ctx.start_child(
        lambda: _make_preview(actor, preview),
        on_result=lambda report: SwitchoverPreviewed(
            reply=reply, request=request, preview=preview, report=report
        ),
        on_error=lambda exc: SwitchoverPreviewed(
            reply=reply, request=request, preview=preview, error=exc
        ),
        name=f"{actor.key}:switchover-preview",
    )


async def switchover_previewed(actor: ContinuumActor, message: SwitchoverPreviewed) -> None:
    """The fresh DryRun of a switchover request is made: admit on the facts of now, start the
    run, answer the ask (``SwitchoverAccepted`` or the refusal)."""
    reply = message.reply
    if message.report is None:
        reply.fail(_failed("dry-run", message.error or RuntimeError("no report")))
        return
    report = _preview_made(actor, message.preview, message.report)
    try:
        reply.resolve(await _admit_previewed(actor, message.request, report))
    except ReplyError as exc:
        reply.fail(exc)


def _ask(request: SwitchoverRequest) -> admission.SwitchoverAsk:
    return admission.SwitchoverAsk(
        to_region=request.toRegion,
        fingerprint=request.fingerprint,
        reason=request.reason,
        initiated_by=request.initiatedBy,
    )


async def _admit_previewed(
    actor: ContinuumActor, request: SwitchoverRequest, report: DryRunReport
) -> SwitchoverAccepted:
    ask = _ask(request)
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
