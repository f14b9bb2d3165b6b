"""How a ContinuumActor runs the post-switchover health check: the options it is run with,
the child task started when ``HealthDue`` fires, and the report written into status.

Plain functions over the actor, called from its message handling (and its API answers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from continuum import metrics
from continuum.actors.continuum.messages import HealthCrashed, HealthDone
from continuum.core import health_record
from continuum.messages.status import COND_LAST_SWITCHOVER_HEALTHY
from continuum.messages.switchover import HealthReport, Plan
from continuum.switchover.health import HealthOptions, post_switchover_health

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["health_crashed", "health_done", "health_options", "start_health"]


def health_options(actor: ContinuumActor) -> HealthOptions:
    """The health check's settings from the CR's spec, falling back to the process's
    vantages and a 0.5 s latency threshold."""
    spec = actor.cr.spec
    vantages = tuple(spec.health.vantages) if spec.health and spec.health.vantages else None
    latency = spec.health.latency_probe if spec.health else None
    return HealthOptions(
        clock=actor.clock,
        pair=actor.collab.pair,
        resolver=actor.env.resolver,
        vantages=vantages or actor.env.vantages,
        probe_timeout=actor.env.probe_timeout_seconds,
        latency=actor.collab.latency,
        latency_threshold_seconds=(latency.threshold_ms / 1000.0) if latency else 0.5,
        audit_tail=actor.env.audit_tail,
    )


def start_health(actor: ContinuumActor, plan: Plan, sid: str) -> None:
    """Run the health check of run ``sid`` as a child task; its outcome arrives as
    ``HealthDone`` or ``HealthCrashed``."""
    options = health_options(actor)
    actor.ctx.start_child(
        lambda: post_switchover_health(plan, options, switchover_id=sid),
        on_result=lambda r: HealthDone(switchover_id=sid, report=r),
        on_error=lambda e: HealthCrashed(switchover_id=sid, error=str(e) or repr(e)),
        name=f"health:{sid}",
    )


async def health_done(actor: ContinuumActor, sid: str, report: HealthReport) -> None:
    """Keep ``report`` (served by the API), and write ``lastHealth`` and the
    ``LastSwitchoverHealthy`` condition as :func:`continuum.core.health_record.landed`
    records it."""
    actor.health = report
    metrics.count_health_run(report.verdict)
    record = health_record.landed(report, switchover_id=sid, now=actor.clock.now())
    actor.log.info("health_checked", id=sid, verdict=report.verdict, summary=record.message)
    _record(actor, record)
    await actor.flush()


async def health_crashed(actor: ContinuumActor, text: str) -> None:
    """The health task failed: ``LastSwitchoverHealthy`` becomes Unknown, its message
    ``PostSwitchoverHealth errored: <error>``
    (:func:`continuum.core.health_record.crashed`)."""
    actor.log.warning("health_errored", error=text)
    _record(actor, health_record.crashed(text))
    await actor.flush()


def _record(actor: ContinuumActor, record: health_record.HealthRecord) -> None:
    actor.condition(COND_LAST_SWITCHOVER_HEALTHY, record.status, record.reason, record.message)
    if record.last_health is not None:
        actor.status = msgspec.structs.replace(actor.status, last_health=record.last_health)
