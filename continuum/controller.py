"""The controller process: one instance per region (see ``docs/architecture.md``).

It serves ``/healthz``, ``/readyz`` and the API on every replica, and — only while it is the
elected leader of its region (or always, with leader election off) — watches the Continuum
CRs of its own cluster and runs one ContinuumActor per CR under the supervisor. Losing
leadership ends the process with a non-zero code, so Kubernetes restarts it as a follower.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from continuum.actors.continuum.actor import ContinuumActor
from continuum.config import Settings
from continuum.http.app import create_app
from continuum.http.metrics import serve_metrics
from continuum.http.readiness import Readiness
from continuum.http.server import bind_listener, serve_api
from continuum.leader.elector import LeaderElector, run_as_leader
from continuum.logs import get_logger
from continuum.messages.crd import Continuum
from continuum.metrics import unwatch_actors, watch_actors
from continuum.ports import Clock
from continuum.supervisor import Supervisor
from continuum.supervisor.serving import check_serving
from continuum.supervisor.watch import ContinuumWatch
from continuum.wiring.edges import (
    Edges,
    environment,
    open_edges,
    serving_facts,
    stored_health_reader,
)

__all__ = ["Listening", "run_controller"]

log = get_logger("continuum.controller")


@dataclass(frozen=True, kw_only=True)
class Listening:
    """Where the controller's listeners are bound, as ``host:port`` (``None``: disabled).

    The port is the one the kernel gave: an address with port 0 is bound to a free port
    and reported here, so nobody has to pick a port in advance (and race for it)."""

    api: str | None
    metrics: str | None

    @property
    def api_port(self) -> int | None:
        return _port(self.api)

    @property
    def metrics_port(self) -> int | None:
        return _port(self.metrics)


def _port(addr: str | None) -> int | None:
    return int(addr.rpartition(":")[2]) if addr else None


def _where(sock: socket.socket | None) -> str | None:
    if sock is None:
        return None
    host, port, *_ = sock.getsockname()
    return f"{host}:{port}"


@contextlib.contextmanager
def _bound(settings: Settings) -> Iterator[tuple[socket.socket | None, socket.socket | None]]:
    """Bind the API and metrics listeners now (a taken address fails before anything else
    starts); close whichever the servers did not take over."""
    api = bind_listener(settings.api_addr) if settings.api_addr is not None else None
    try:
        metrics = (
            bind_listener(settings.metrics_addr) if settings.metrics_addr is not None else None
        )
    except BaseException:
        if api is not None:
            api.close()
        raise
    try:
        yield api, metrics
    finally:
        for sock in (api, metrics):
            if sock is not None:
                sock.close()  # idempotent: the server already closed what it served


async def run_controller(
    settings: Settings,
    *,
    clock: Clock,
    on_ready: Callable[[Readiness], Awaitable[None]] | None = None,
    on_listening: Callable[[Listening], None] | None = None,
) -> int:
    """Run the controller until cancelled; return the exit code (0 after a clean stop,
    non-zero when leadership was lost).

    The API and metrics listeners are bound first (port 0: a free port); where they ended
    up is logged once as ``controller_listening`` (``api``, ``metrics``: ``host:port``) and
    passed to ``on_listening`` before anything else starts. Raises OSError when an address
    is taken.

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
    with _bound(settings) as (api_sock, metrics_sock):
        listening = Listening(api=_where(api_sock), metrics=_where(metrics_sock))
        log.info("controller_listening", api=listening.api, metrics=listening.metrics)
        if on_listening is not None:
            on_listening(listening)
        return await _run(settings, clock, on_ready, api_sock, metrics_sock)


async def _run(
    settings: Settings,
    clock: Clock,
    on_ready: Callable[[Readiness], Awaitable[None]] | None,
    api_sock: socket.socket | None,
    metrics_sock: socket.socket | None,
) -> int:
    async with open_edges(settings, clock=clock) as edges:
        readiness = Readiness(audit_ready=edges.audit_ready)
        code = 0
        async with (
            Supervisor(clock=clock, shutdown_timeout=settings.shutdown_timeout_seconds) as sup,
            anyio.create_task_group() as tg,
        ):
            watch_actors(sup.registry.snapshot)
            try:
                if api_sock is not None:
                    app = create_app(
                        registry=sup.registry,
                        readiness=readiness,
                        settings=settings,
                        stored_health=stored_health_reader(edges),
                    )
                    tg.start_soon(serve_api, app, api_sock)
                if metrics_sock is not None:
                    tg.start_soon(serve_metrics, metrics_sock)

                async def lead() -> int:
                    return await _run_actors(edges, settings, sup, readiness, on_ready)

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
    return code


async def _run_actors(
    edges: Edges,
    settings: Settings,
    sup: Supervisor,
    readiness: Readiness,
    on_ready: Callable[[Readiness], Awaitable[None]] | None,
) -> int:
    env = environment(edges, settings)

    def factory(cr: Continuum) -> ContinuumActor:
        return ContinuumActor(cr, env)

    watch = ContinuumWatch(
        edges.continuums,
        sup,
        factory,
        clock=edges.clock,
        namespaces=list(settings.watch_namespaces) or None,
        check=functools.partial(check_serving, facts=serving_facts(edges, settings)),
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
