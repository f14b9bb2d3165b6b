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
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from continuum import metrics
from continuum.actors.continuum.actor import ContinuumActor
from continuum.adapters.continuums import ContinuumFinalizers
from continuum.config import Address, Settings
from continuum.http.readiness import Readiness
from continuum.leader.elector import LEADERSHIP_LOST_EXIT_CODE, LeaderElector, LeadershipLost
from continuum.leader.lease_api import lease_namespace, make_identity
from continuum.leader.membership import Membership
from continuum.leader.request_lane import RequestLane
from continuum.logs import get_logger
from continuum.messages.crd import Continuum
from continuum.metrics import unwatch_actors, watch_actors
from continuum.ports import Clock
from continuum.supervisor import Supervisor
from continuum.supervisor.conflicts import Conflicts
from continuum.supervisor.serving import check_serving
from continuum.supervisor.tree import Child, SupervisionTree, running
from continuum.supervisor.watch import ContinuumWatch
from continuum.wiring.edges import (
    AuditEdge,
    Clients,
    Edges,
    audit_options,
    edges_of,
    environment,
    new_start_gate,
    open_audit,
    open_clients,
    serving_facts,
    stored_health_reader,
)

__all__ = ["Listening", "controller_tree", "run_controller"]

log = get_logger("continuum.controller")

CONTROLLER_TIMER_GRID = 0.05
"""The grid (seconds) of the CR actors' timers: a renewal or observation is sent at the first
50 ms mark at or after its deadline (never earlier, at most 50 ms later), so the renewals of
the CRs due in the same 50 ms go out in one batch (:mod:`continuum.actors.timers`)."""


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


class _ShardPeers:
    """The API's view of the shard membership (``continuum.http.forwarding.PeerDirectory``),
    bound late: the API serves before the membership has joined, and until then forwards
    nothing."""

    def __init__(self, shard: list[Membership]) -> None:
        self._shard = shard

    @property
    def identity(self) -> str:
        return self._shard[0].identity if self._shard else ""

    def peer_url_for(self, key: str) -> str | None:
        return self._shard[0].peer_url_for(key) if self._shard else None

    def peer_urls(self) -> list[str]:
        return self._shard[0].peer_urls() if self._shard else []


def _advertised_api_url(settings: Settings, api_sock: socket.socket | None) -> str:
    """Where the peers reach this replica's API (``CONTINUUM_API_ADVERTISE_URL``, else the
    pod IP and the bound port); ``""`` with the API off or nothing to advertise."""
    if api_sock is None:
        return ""
    if settings.api_advertise_url:
        return settings.api_advertise_url
    if not settings.pod_ip:
        return ""
    host = f"[{settings.pod_ip}]" if ":" in settings.pod_ip else settings.pod_ip
    return f"http://{host}:{api_sock.getsockname()[1]}"


def _port(addr: str | None) -> int | None:
    return int(addr.rpartition(":")[2]) if addr else None


def _where(sock: socket.socket | None) -> str | None:
    if sock is None:
        return None
    host, port, *_ = sock.getsockname()
    return f"{host}:{port}"


def _bind(address: Address | None) -> socket.socket | None:
    if address is None:
        return None
    # Imported here: a process with no listener never loads uvicorn.
    from continuum.http.server import bind_listener

    return bind_listener(address)


@contextlib.contextmanager
def _bound(settings: Settings) -> Iterator[tuple[socket.socket | None, socket.socket | None]]:
    """Bind the API and metrics listeners now (a taken address fails before anything else
    starts); close whichever the servers did not take over."""
    api = _bind(settings.api_addr)
    try:
        metrics = _bind(settings.metrics_addr)
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

    The process is :func:`controller_tree`: its children start in order and stop in
    reverse. Raises :class:`~continuum.supervisor.SupervisorEscalation` when an actor
    exceeded its restart budget, :class:`~continuum.audit.AuditPublisherEscalation`
    when the audit publisher did (the process must exit non-zero so Kubernetes restarts it),
    and :class:`~continuum.config.ConfigError` for settings that cannot work together.
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
    readiness = Readiness()
    tree = controller_tree(
        settings, clock=clock, readiness=readiness, api_sock=api_sock, metrics_sock=metrics_sock
    )
    try:
        async with tree:
            log.info(
                "controller_ready",
                actors=len(tree["actor-supervisor"].registry),
                region=settings.region,
            )
            if on_ready is not None:
                await on_ready(readiness)
            await anyio.sleep_forever()
    except LeadershipLost as exc:
        log.warning("leadership_lost_exiting", reason=str(exc))
        return LEADERSHIP_LOST_EXIT_CODE
    return 0  # pragma: no cover - only cancellation ends the block


def controller_tree(
    settings: Settings,
    *,
    clock: Clock,
    readiness: Readiness,
    api_sock: socket.socket | None = None,
    metrics_sock: socket.socket | None = None,
) -> SupervisionTree:
    """The controller's supervision tree, in start order (``docs/architecture.md``).

    ``clients`` and ``audit-publisher`` run on every replica, as do the ``http`` servers
    (``/healthz``, ``/readyz``, the API, metrics); ``leader-elector`` returns once this
    replica leads, and the two children after it run only while it does (a lost leadership
    cancels them and ends the process with :data:`LEADERSHIP_LOST_EXIT_CODE`). The
    ``cr-watch`` feeds the ``actor-supervisor``, so it starts after it and stops before it.
    ``api_sock`` / ``metrics_sock``: the bound listeners (``None``: that server is off).
    """
    options = audit_options(settings)
    sup = Supervisor(
        clock=clock,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        timer_grid=CONTROLLER_TIMER_GRID,
    )
    conflicts = Conflicts()  # written by the CR watch, read by the API
    tree: SupervisionTree
    shard: list[Membership] = []  # set by the shard-membership child, read by cr-watch
    gate = new_start_gate()  # held by the membership while its renewals run late

    def clients() -> Clients:
        return tree["clients"]  # type: ignore[no-any-return]

    def edges() -> Edges:
        return edges_of(clients(), tree["audit-publisher"])

    @asynccontextmanager
    async def audit_publisher() -> AsyncIterator[AuditEdge]:
        async with open_audit(settings, clients().kube, clock=clock) as audit:
            readiness.audit_ready = audit.audit_ready
            metrics.watch_audit(audit.audit_status)
            try:
                yield audit
            finally:
                metrics.watch_audit(None)

    def http() -> AbstractAsyncContextManager[None]:
        servers: list[Callable[[], Coroutine[Any, Any, object]]] = []
        # The API stack (Litestar, uvicorn) is imported only when a server is on.
        if api_sock is not None:
            from continuum.http.app import create_app
            from continuum.http.server import serve_api

            app = create_app(
                registry=sup.registry,
                readiness=readiness,
                settings=settings,
                stored_health=stored_health_reader(edges()),
                conflicts=conflicts,
                peers=_ShardPeers(shard) if settings.sharding else None,
            )
            servers.append(functools.partial(serve_api, app, api_sock))
        if metrics_sock is not None:
            from continuum.http.metrics import serve_metrics

            servers.append(functools.partial(serve_metrics, metrics_sock))
        return running(*servers)

    @asynccontextmanager
    async def leader() -> AsyncIterator[None]:
        if not settings.leader_election:
            readiness.is_leader = True
            yield
            return
        local = clients().kube.for_region(settings.region)
        elector = LeaderElector.from_settings(
            settings,
            local.api,
            clock=clock,
            on_change=lambda leading: setattr(readiness, "is_leader", leading),
        )
        async with elector.leading():
            yield

    @asynccontextmanager
    async def membership() -> AsyncIterator[Membership]:
        local = clients().kube.for_region(settings.region)
        # A thread, loop and connection pool of their own: the renewals never queue behind
        # the actors' requests, nor wait for this loop's iterations (docs/decisions.md #23).
        async with RequestLane(local.api.configuration, name="shard-membership") as lane:
            member = Membership(
                local.api,
                group=settings.leader_lease_name,
                namespace=lease_namespace(settings.leader_lease_namespace),
                identity=make_identity(),
                clock=clock,
                lease_duration=settings.leader_lease_seconds,
                renew_deadline=settings.leader_renew_deadline,
                settle_period=settings.shard_settle_seconds,
                on_pressure=gate.hold,
                lane=lane,
                api_url=_advertised_api_url(settings, api_sock),
            )
            readiness.is_leader = True  # every member serves; each runs its own CRs
            try:
                async with member.joined():
                    shard.append(member)
                    yield member
            finally:
                gate.hold(False)

    @asynccontextmanager
    async def actors() -> AsyncIterator[Supervisor]:
        async with sup:
            watch_actors(sup.registry.snapshot)
            try:
                yield sup
            finally:
                unwatch_actors()

    @asynccontextmanager
    async def cr_watch() -> AsyncIterator[ContinuumWatch]:
        env = environment(edges(), settings, start_gate=gate)

        def factory(cr: Continuum) -> ContinuumActor:
            return ContinuumActor(cr, env)

        watch = ContinuumWatch(
            clients().continuums,
            sup,
            factory,
            clock=clock,
            namespaces=list(settings.watch_namespaces) or None,
            check=functools.partial(check_serving, facts=serving_facts(edges(), settings)),
            conflicts=conflicts,
            shard=shard[0] if shard else None,
            finalizers=ContinuumFinalizers(clients().continuums),
        )
        if shard:
            shard[0].follow(watch.rebalance)
        try:
            async with running(watch.run):
                await watch.wait_synced()
                readiness.watch_synced = True
                yield watch
        finally:
            if shard:
                shard[0].unfollow(watch.rebalance)

    tree = SupervisionTree(
        "controller",
        [
            Child(
                name="clients",
                start=lambda: open_clients(settings, clock=clock),
                restart="temporary",
                budget="API clients, no process of their own",
            ),
            Child(
                name="audit-publisher",
                start=audit_publisher,
                budget=(
                    f"restarted with its outbox intact, {options.restart_intensity} in "
                    f"{options.restart_period:g}s, then escalate"
                ),
            ),
            Child(
                name="http",
                start=http,
                restart="temporary",
                budget="a server that fails ends the process",
            ),
            Child(
                name="shard-membership",
                start=membership,
                budget="never restarted: renewals failing past the deadline fence it (its "
                "actors stop) until a renewal succeeds",
                children=("actor-supervisor", "cr-watch"),
            )
            if settings.sharding
            else Child(
                name="leader-elector",
                start=leader,
                budget="never restarted: leadership lost → exit, Kubernetes restarts the pod",
                children=("actor-supervisor", "cr-watch"),
            ),
            Child(
                name="actor-supervisor",
                start=actors,
                budget="one_for_one per CR, 5 in 30s with backoff, then escalate",
            ),
            Child(
                name="cr-watch",
                start=cr_watch,
                budget="resumes and relists by itself; a crash ends the process",
            ),
        ],
    )
    return tree
