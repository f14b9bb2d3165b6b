"""Should a switchover run now, and of which kind? Pure decisions over observed facts.

Precedence: an operator request, then auto-failover, then a lag breach. Auto-failover and lag
breach need ``spec.autoFailover`` (an operator opts in to unattended moves) and N consecutive
observations, never one sample. A planned switchover is run by the acting region's instance; an
unplanned failover by a standby region's instance, for itself, once the primary's lease has
expired.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from continuum.messages.lease import Lease

__all__ = [
    "FailbackExpired",
    "FailbackPending",
    "NoAction",
    "RunSwitchover",
    "TriggerDecision",
    "TriggerInputs",
    "decide_trigger",
    "next_streak",
]


class TriggerInputs(msgspec.Struct, frozen=True, kw_only=True):
    """What one instance knows at one observation.

    ``acting_primary``: the region that holds the writer role now (status / lease), which
    differs from ``original_primary`` (``spec.primaryRegion``) after a failover.
    ``unreachable_streak``/``lag_breach_streak``: consecutive observations (see
    :func:`next_streak`); ``required_streak`` is N.
    """

    self_region: str
    original_primary: str
    acting_primary: str
    hot_standby_regions: tuple[str, ...]
    now: datetime
    lease: Lease | None = None
    requested: bool = False
    requested_target: str = ""
    requested_reason: str = ""
    requested_by: str = ""
    failback_approved: bool = False
    failback_requires_approval: bool = True
    failback_pending_since: datetime | None = None
    failback_approval_timeout_seconds: int = 0
    auto_failover: bool = False
    unreachable_streak: int = 0
    lag_breach_streak: int = 0
    required_streak: int = 3


class RunSwitchover(msgspec.Struct, frozen=True, kw_only=True):
    """Run now: ``from_region`` → ``to_region``; ``unplanned`` for auto-failover."""

    from_region: str
    to_region: str
    reason: str
    initiated_by: str
    unplanned: bool = False


class FailbackPending(msgspec.Struct, frozen=True, kw_only=True):
    """A failback to the original region was requested and awaits ``spec.failback.approved``
    (emit ``continuum-failback-pending`` once per request)."""

    from_region: str
    to_region: str


class FailbackExpired(msgspec.Struct, frozen=True, kw_only=True):
    """A failback waited for approval past ``spec.failback.approvalTimeoutSeconds``: give the
    request up (clear it, report the timeout); nothing moves."""

    from_region: str
    to_region: str
    waited_seconds: float


class NoAction(msgspec.Struct, frozen=True, kw_only=True):
    why: str


TriggerDecision = RunSwitchover | FailbackPending | FailbackExpired | NoAction


def next_streak(previous: int, observed: bool) -> int:
    """Consecutive-observation counter: +1 when ``observed``, back to 0 otherwise."""
    return previous + 1 if observed else 0


def _default_target(inputs: TriggerInputs) -> str:
    candidates = [*inputs.hot_standby_regions, inputs.original_primary]
    for region in candidates:
        if region and region != inputs.acting_primary:
            return region
    return ""


def decide_trigger(inputs: TriggerInputs) -> TriggerDecision:
    """The trigger rule (``docs/switchover.md``)."""
    acting, me = inputs.acting_primary, inputs.self_region
    if inputs.requested:
        target = inputs.requested_target or _default_target(inputs)
        if not target:
            request_why = "switchover requested but no target region"
        elif target == acting:
            request_why = f"{target!r} is already the acting primary"
        elif me != acting:
            request_why = "a planned switchover is run by the acting region's instance"
        else:
            request_why = ""
        if request_why:
            if me == acting or not inputs.auto_failover:
                return NoAction(why=request_why)
            # Not this instance's request to run; a standing request never keeps a standby
            # from failing over a writer that is gone (seed 314267: the acting region's CR
            # was deleted, and the request stood for good).
            return _auto_failover(inputs)
        failback = target == inputs.original_primary
        if failback and inputs.failback_requires_approval and not inputs.failback_approved:
            since, limit = inputs.failback_pending_since, inputs.failback_approval_timeout_seconds
            waited = (inputs.now - since).total_seconds() if since is not None else 0.0
            if limit > 0 and waited >= limit:
                return FailbackExpired(from_region=acting, to_region=target, waited_seconds=waited)
            return FailbackPending(from_region=acting, to_region=target)
        reason = "failback" if failback else (inputs.requested_reason or "operator-requested")
        return RunSwitchover(
            from_region=acting,
            to_region=target,
            reason=reason,
            initiated_by=inputs.requested_by or "controller",
        )
    if not inputs.auto_failover:
        return NoAction(why="autoFailover is off")
    if me != acting:
        return _auto_failover(inputs)
    if inputs.lag_breach_streak >= inputs.required_streak:
        target = _default_target(inputs)
        if not target:
            return NoAction(why="lag breach but no target region")
        return RunSwitchover(
            from_region=acting, to_region=target, reason="lag-breach", initiated_by="controller"
        )
    return NoAction(why="nothing to do")


def _auto_failover(inputs: TriggerInputs) -> TriggerDecision:
    """A standby's instance with ``autoFailover``: an unplanned run for itself once the
    lease expired and the primary was unreachable for N consecutive observations."""
    me, lease = inputs.self_region, inputs.lease
    if me not in inputs.hot_standby_regions and me != inputs.original_primary:
        return NoAction(why="this region is not a standby of the pair")
    if lease is None:
        return NoAction(why="witness unreadable: no evidence the primary's lease expired")
    if not lease.is_free_at(inputs.now):
        return NoAction(why=f"lease held by {lease.holder!r} and live")
    if inputs.unreachable_streak < inputs.required_streak:
        return NoAction(
            why=f"primary unreachable {inputs.unreachable_streak}/"
            f"{inputs.required_streak} observations"
        )
    return RunSwitchover(
        from_region=inputs.acting_primary,
        to_region=me,
        reason="auto-failover",
        initiated_by="auto-failover",
        unplanned=True,
    )
