"""The controller process: one instance per region (see ``docs/architecture.md``).

It serves ``/healthz``, ``/readyz`` and the API on every replica, and — only while it is the
elected leader of its region (or always, with leader election off) — watches the Continuum
CRs of its own cluster and runs one ContinuumActor per CR under the supervisor. Losing
leadership ends the process with a non-zero code, so Kubernetes restarts it as a follower.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from continuum import metrics
from continuum.actors.continuum.actor import ContinuumActor
from continuum.config import Settings
from continuum.http.app import create_app
from continuum.http.metrics import serve_metrics
from continuum.http.readiness import Readiness
from continuum.http.server import serve_api
from continuum.logs import get_logger
from continuum.messages.crd import Continuum
from continuum.metrics import unwatch_actors, watch_actors
from continuum.ports import Clock
from continuum.supervisor import Supervisor
from continuum.supervisor.leader import LeaderElector, run_as_leader
from continuum.supervisor.watch import ContinuumWatch
from continuum.wiring import Edges, environment, open_edges

__all__ = ["run_controller"]

log = get_logger("continuum.controller")


async def run_controller(
    settings: Settings,
    *,
    clock: Clock,
    on_ready: Callable[[Readiness], Awaitable[None]] | None = None,
) -> int:
    """Run the controller until cancelled; return the exit code (0 after a clean stop,
    non-zero when leadership was lost).

    Raises :class:`~continuum.supervisor.SupervisorEscalation` when an actor exceeded its
    restart budget (the process must exit non-zero so Kubernetes restarts it), and
    :class:`~continuum.config.ConfigError` for settings that cannot work together.
    """
    log.info(
        "controller_starting",
        region=settings.region,
        api_addr=str(settings.api_addr) if settings.api_addr else "",
        metrics_addr=str(settings.metrics_addr) if settings.metrics_addr else "",
        leader_election=settings.leader_election,
    )
    async with open_edges(settings, clock=clock) as edges:
        readiness = Readiness(audit_ready=edges.audit_ready)
        code = 0
        async with (
            Supervisor(clock=clock, shutdown_timeout=settings.shutdown_timeout_seconds) as sup,
            anyio.create_task_group() as tg,
        ):
            watch_actors(sup.registry.snapshot)
            metrics.watch_audit(edges.audit_status)
            try:
                if settings.api_addr is not None:
                    app = create_app(registry=sup.registry, readiness=readiness, settings=settings)
                    tg.start_soon(serve_api, app, settings.api_addr)
                if settings.metrics_addr is not None:
                    tg.start_soon(serve_metrics, settings.metrics_addr)

                async def lead() -> int:
                    return await _run_actors(edges, sup, readiness, on_ready)

                if settings.leader_election:
                    local = edges.kube.for_region(settings.region)
                    elector = LeaderElector.from_settings(
                        settings,
                        local.api,
                        clock=clock,
                        on_change=lambda leading: setattr(readiness, "is_leader", leading),
                    )
                    code = await run_as_leader(elector, lead)
                else:
                    readiness.is_leader = True
                    code = await lead()
                tg.cancel_scope.cancel()
            finally:
                unwatch_actors()
                metrics.watch_audit(None)
    return code


async def _run_actors(
    edges: Edges,
    sup: Supervisor,
    readiness: Readiness,
    on_ready: Callable[[Readiness], Awaitable[None]] | None,
) -> int:
    env = environment(edges)

    def factory(cr: Continuum) -> ContinuumActor:
        return ContinuumActor(cr, env)

    settings = edges.settings
    watch = ContinuumWatch(
        edges.continuums,
        sup,
        factory,
        clock=edges.clock,
        namespaces=list(settings.watch_namespaces) or None,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run)
        await watch.wait_synced()
        readiness.watch_synced = True
        log.info("controller_ready", actors=len(sup.registry), region=settings.region)
        if on_ready is not None:
            await on_ready(readiness)
        await anyio.sleep_forever()
    return 0  # pragma: no cover - only cancellation ends the block
