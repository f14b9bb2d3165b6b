"""Builds the per-process edges (Kubernetes clients, audit, DNS) and the ContinuumActor's
environment from :class:`~continuum.config.Settings`.

Nothing here decides anything: each adapter documents its own guarantees. Everything opened
here is closed when :func:`open_edges` exits.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio

from continuum.actors.continuum.env import Collaborators, ContinuumEnvironment
from continuum.actors.continuum.startup import START_CONCURRENCY, START_JITTER_SECONDS, StartGate
from continuum.actors.continuum.write_queue import WriteQueue
from continuum.adapters.audit_outbox import ConfigMapOutboxStore
from continuum.adapters.cnpg import CnpgPair
from continuum.adapters.continuums import (
    ContinuumApi,
    ContinuumCopiesReader,
    ContinuumFinalizers,
    decode_status,
)
from continuum.adapters.httproute import HttpRoutes
from continuum.adapters.kube import KubeClients
from continuum.adapters.latency import HttpLatencyProbe
from continuum.adapters.nats import AuditStreamSpec, JetStreamAuditTail, JetStreamAuditTransport
from continuum.adapters.pdm import PdmClient
from continuum.adapters.pgprobe import PgReplicationProbe, ProbeUnavailable
from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.adapters.role_secrets import KubeRoleSecrets
from continuum.audit import AuditPublisherOptions, run_audit_publisher
from continuum.cleanup import shielded
from continuum.config import ConfigError, Settings
from continuum.core.dns_serving import ServedAnswer
from continuum.errors import ContinuumError, DnsWriteError, ResolverUnavailable
from continuum.leader.lease_api import lease_namespace
from continuum.logs import get_logger
from continuum.messages.audit import AuditEvent, AuditPublisherStatus, encode_event
from continuum.messages.crd import Continuum
from continuum.messages.dns import LuaRecord
from continuum.messages.replication import ReplicationObservation
from continuum.messages.status import ContinuumStatus, LastHealth
from continuum.messages.switchover import ObjectRef
from continuum.ports import AuditSink, AuditTail, Clock, DnsRecords, Resolver, Witness
from continuum.supervisor.serving import ServingFacts
from continuum.switchover.dnsverify import verify_answer
from continuum.wiring.witness import WitnessOptions, open_witness

__all__ = [
    "AuditEdge",
    "Clients",
    "Edges",
    "LogAuditSink",
    "StatusStoreAdapter",
    "edges_of",
    "environment",
    "open_audit",
    "open_clients",
    "open_edges",
    "serving_facts",
    "witness_options",
]

log = get_logger("continuum.wiring")

DNS_VERIFY_TIMEOUT = 10.0
DNS_VERIFY_STABLE_ROUNDS = 3
DNS_VERIFY_SPACING = 0.5


class LogAuditSink:
    """The audit sink when no NATS is configured: one structured log line per event.

    Not durable; only allowed when ``CONTINUUM_AUDIT_REQUIRED`` is false.
    """

    async def emit(self, event: AuditEvent) -> None:
        log.info("audit_event", audit=encode_event(event).decode())

    def delivery_state(self, continuum: str) -> None:
        """Not tracked: a log line is written or the emit raised."""
        return None


class StatusStoreAdapter:
    """:class:`~continuum.ports.StatusStore` over :class:`ContinuumApi`."""

    def __init__(self, api: ContinuumApi) -> None:
        self._api = api

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        namespace, name = key.split("/", 1)
        await self._api.patch_status(
            namespace, name, status, previous=previous if previous is not None else status
        )

    async def clear_switchover_request(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        await self._api.clear_switchover_request(namespace, name)


@dataclass(frozen=True, kw_only=True)
class Edges:
    """The process-wide clients every ContinuumActor shares (clients only: the settings they
    were opened from travel beside them, as values)."""

    clock: Clock
    kube: KubeClients
    continuums: ContinuumApi
    audit: AuditSink
    audit_ready: Callable[[], bool]
    audit_status: Callable[[], AuditPublisherStatus] | None
    """The publisher's backlog and counters (``None`` without NATS): metrics read it."""
    audit_tail: AuditTail | None
    dns: DnsRecords | None
    resolver: Resolver


@dataclass(frozen=True, kw_only=True)
class Clients:
    """The process-wide API clients (no process of their own: nothing to supervise)."""

    clock: Clock
    kube: KubeClients
    continuums: ContinuumApi
    dns: DnsRecords | None
    resolver: Resolver


@dataclass(frozen=True, kw_only=True)
class AuditEdge:
    """The audit side: the sink actors emit to, its readiness and status, and the tail."""

    audit: AuditSink
    audit_ready: Callable[[], bool]
    audit_status: Callable[[], AuditPublisherStatus] | None
    audit_tail: AuditTail | None


@asynccontextmanager
async def open_clients(settings: Settings, *, clock: Clock) -> AsyncIterator[Clients]:
    """Open the Kubernetes and DNS clients; close them all on exit."""
    async with AsyncExitStack() as stack:
        kube = await KubeClients.from_settings(
            kubeconfig=settings.kubeconfig,
            region=settings.region,
            region_contexts=settings.region_contexts,
        )
        stack.push_async_callback(shielded(kube.aclose))
        continuums = ContinuumApi(kube.for_region(settings.region), clock=clock)
        dns: DnsRecords | None = None
        if settings.dns_writer == "powerdns" and settings.powerdns_api_url:
            pdns = PowerDnsApi(
                settings.powerdns_api_url,
                settings.powerdns_api_key,
                server_id=settings.powerdns_server_id,
            )
            stack.push_async_callback(shielded(pdns.aclose))
            dns = pdns
        elif settings.dns_writer == "pdm" and settings.pdm_url:
            pdm = PdmClient(settings.pdm_url, token=settings.pdm_token)
            stack.push_async_callback(shielded(pdm.aclose))
            dns = pdm
        yield Clients(
            clock=clock,
            kube=kube,
            continuums=continuums,
            dns=dns,
            resolver=AiodnsResolver(),
        )


def audit_options(settings: Settings) -> AuditPublisherOptions:
    """The publisher's options from ``settings`` (the rest are the documented defaults)."""
    return AuditPublisherOptions(outbox_limit=settings.audit_outbox_limit)


@asynccontextmanager
async def open_audit(
    settings: Settings, kube: KubeClients, *, clock: Clock
) -> AsyncIterator[AuditEdge]:
    """Run the supervised audit publisher over its durable outbox (ConfigMaps in the
    controller's namespace) for the block; on exit it flushes what it accepted, within its
    bound, and what is left stays durable for the next start. Without NATS: a log sink
    (not durable; refused when ``CONTINUUM_AUDIT_REQUIRED``)."""
    if settings.audit_required and not settings.nats_url:
        raise ConfigError("CONTINUUM_NATS_URL", "required when CONTINUUM_AUDIT_REQUIRED=true")
    if not settings.nats_url:
        log.warning("audit_not_durable", reason="CONTINUUM_NATS_URL is empty")
        yield AuditEdge(
            audit=LogAuditSink(), audit_ready=lambda: True, audit_status=None, audit_tail=None
        )
        return
    async with AsyncExitStack() as stack:
        stream = AuditStreamSpec(name=settings.audit_stream, subjects=(settings.audit_subject,))
        transport = JetStreamAuditTransport(
            settings.nats_url, stream=stream, subject=settings.audit_subject
        )
        store = ConfigMapOutboxStore(
            kube.for_region(settings.region),
            namespace=lease_namespace(settings.audit_outbox_namespace),
            owner=settings.region or "default",
        )
        sink = await stack.enter_async_context(
            run_audit_publisher(
                transport, clock=clock, options=audit_options(settings), store=store
            )
        )
        tail = JetStreamAuditTail(
            settings.nats_url,
            clock=clock,
            stream=settings.audit_stream,
            subject=settings.audit_subject,
        )
        stack.push_async_callback(shielded(tail.aclose))
        yield AuditEdge(
            audit=sink, audit_ready=sink.ready, audit_status=sink.status, audit_tail=tail
        )


def edges_of(clients: Clients, audit: AuditEdge) -> Edges:
    """The :class:`Edges` every ContinuumActor's environment is built from."""
    return Edges(
        clock=clients.clock,
        kube=clients.kube,
        continuums=clients.continuums,
        audit=audit.audit,
        audit_ready=audit.audit_ready,
        audit_status=audit.audit_status,
        audit_tail=audit.audit_tail,
        dns=clients.dns,
        resolver=clients.resolver,
    )


@asynccontextmanager
async def open_edges(settings: Settings, *, clock: Clock) -> AsyncIterator[Edges]:
    """Open every client the controller needs (:func:`open_clients`, then
    :func:`open_audit`), and close them all on exit in reverse."""
    async with (
        open_clients(settings, clock=clock) as clients,
        open_audit(settings, clients.kube, clock=clock) as audit,
    ):
        yield edges_of(clients, audit)


STORED_HEALTH_READ_TIMEOUT = 5.0
"""Seconds one region's copy of a CR may take to answer a ``lastHealth`` read."""


def stored_health_reader(
    edges: Edges,
) -> Callable[[str, str], Awaitable[LastHealth | None]]:
    """``(namespace, name)`` → the newest ``status.lastHealth`` across every region's copy of
    the CR (read concurrently; a region that does not answer within
    :data:`STORED_HEALTH_READ_TIMEOUT`, or has no such CR, is skipped). Never raises."""
    apis = [ContinuumApi(edges.kube.for_region(r), clock=edges.clock) for r in edges.kube.regions]

    async def read(namespace: str, name: str) -> LastHealth | None:
        found: list[LastHealth | None] = [None] * len(apis)

        async def one(index: int, api: ContinuumApi) -> None:
            with anyio.move_on_after(STORED_HEALTH_READ_TIMEOUT):
                try:
                    raw = await api.get_raw(namespace, name)
                    found[index] = decode_status(raw).last_health
                except ContinuumError as exc:
                    log.debug(
                        "stored_health_unreadable", continuum=f"{namespace}/{name}", error=str(exc)
                    )

        async with anyio.create_task_group() as tg:
            for index, api in enumerate(apis):
                tg.start_soon(one, index, api)
        best: LastHealth | None = None
        for item in found:
            if item is not None and (best is None or item.checked_at > best.checked_at):
                best = item
        return best

    return read


def _secret_reader(edges: Edges, region: str) -> Callable[[str, str, str], Awaitable[str]]:
    local = edges.kube.for_region(region)

    async def read(namespace: str, name: str, key: str) -> str:
        secret = await local.call(
            local.core.read_namespaced_secret, name, namespace, what=f"get secret {name}"
        )
        data = (secret or {}).get("data") or {}
        if key not in data:
            raise KeyError(f"secret {namespace}/{name} has no key {key!r}")
        return base64.b64decode(data[key]).decode()

    return read


def _verifier(
    edges: Edges, servers: Sequence[str]
) -> Callable[[Sequence[LuaRecord], Sequence[str]], Awaitable[None]]:
    """The flip-dns check: every (hostname, server) must answer the new primary's addresses
    in ``DNS_VERIFY_STABLE_ROUNDS`` consecutive rounds ``DNS_VERIFY_SPACING`` seconds apart
    (an ``ifurlup`` record answers arbitrarily until pdns has health-checked it once, so
    one lucky answer proves nothing), within ``DNS_VERIFY_TIMEOUT`` seconds."""

    async def verify(records: Sequence[LuaRecord], ips: Sequence[str]) -> None:
        clock = edges.clock
        deadline = clock.monotonic() + DNS_VERIFY_TIMEOUT
        stable = 0
        while stable < DNS_VERIFY_STABLE_ROUNDS:
            result = await verify_answer(
                edges.resolver,
                hostnames=[r.hostname for r in records],
                vantages=servers,
                expected_ips=ips,
                timeout=max(0.1, deadline - clock.monotonic()),
                clock=clock,
            )
            if not result.ok:
                raise DnsWriteError(f"authoritative answer did not change: {result.summary()}")
            stable += 1
            if stable < DNS_VERIFY_STABLE_ROUNDS:
                await clock.sleep(DNS_VERIFY_SPACING)

    return verify


def _answers_reader(
    resolver: Resolver, servers: Sequence[str], *, timeout: float
) -> Callable[[Sequence[str]], Awaitable[list[ServedAnswer]]]:
    """What each of ``servers`` answers for each hostname, asked concurrently, each query
    bounded by ``timeout``; a server that does not answer gives an answer with its error.
    Never raises :class:`~continuum.errors.ResolverUnavailable`."""

    async def read(hostnames: Sequence[str]) -> list[ServedAnswer]:
        pairs = [(host, server) for host in hostnames for server in servers]
        found: list[ServedAnswer | None] = [None] * len(pairs)

        async def one(index: int, host: str, server: str) -> None:
            try:
                addresses = await resolver.resolve_a(host, nameserver=server, timeout=timeout)
            except ResolverUnavailable as exc:
                found[index] = ServedAnswer(hostname=host, server=server, error=str(exc))
                return
            found[index] = ServedAnswer(
                hostname=host, server=server, addresses=tuple(sorted(addresses))
            )

        async with anyio.create_task_group() as tg:
            for index, (host, server) in enumerate(pairs):
                tg.start_soon(one, index, host, server)
        return [answer for answer in found if answer is not None]

    return read


def _replication_probe(
    edges: Edges, cr: Continuum, *, region: str
) -> Callable[[str], Awaitable[ReplicationObservation]]:
    """``pg_stat_replication`` of a region's primary, through the DSN Secret the CR names
    (read from the CR's own namespace, never logged)."""
    probe_spec = cr.spec.replication_probe
    assert probe_spec is not None
    read = _secret_reader(edges, region)

    async def observe(region: str) -> ReplicationObservation:
        ref = probe_spec.dsn_secret_refs.get(region)
        if ref is None:
            raise ProbeUnavailable(region, "spec.replicationProbe names no DSN for this region")
        dsn = await read(cr.metadata.namespace, ref.name, ref.key)
        probe = PgReplicationProbe(
            str(dsn), clock=edges.clock, timeout=float(probe_spec.timeout_seconds)
        )
        return await probe.observe_primary()

    return observe


def witness_options(settings: Settings) -> WitnessOptions:
    """The witness factory's options of this process (``k8s-lease`` Leases default to the
    controller's own namespace when ``CONTINUUM_WITNESS_LEASE_NAMESPACE`` is empty)."""
    return WitnessOptions.from_settings(settings, own_namespace=lease_namespace(""))


def serving_facts(edges: Edges, settings: Settings) -> ServingFacts:
    """What this process can serve, for the watch's first-observation check."""
    return ServingFacts(
        witness=witness_options(settings),
        context_regions=edges.kube.regions if settings.kubeconfig else None,
        witness_context=settings.witness_context,
        dns_writer=edges.dns is not None,
    )


def environment(
    edges: Edges, settings: Settings, *, start_gate: StartGate | None = None
) -> ContinuumEnvironment:
    """The environment every ContinuumActor of this process gets: ``edges``' clients and the
    values of ``settings`` (the same settings ``edges`` was opened from). ``start_gate``:
    the process's gate (a :func:`new_start_gate` by default)."""
    clock = edges.clock
    options = witness_options(settings)
    secrets = _secret_reader(edges, settings.region)
    gate = start_gate if start_gate is not None else new_start_gate()

    async def witness_for(cr: Continuum) -> Witness:
        client = cr.spec.lease_client
        config = client.config.to_witness_config()
        if client.kind == "k8s-lease" and settings.witness_context:
            config.setdefault("context", settings.witness_context)
        return await open_witness(
            client.kind,
            config,
            slot=cr.key,
            options=options,
            clock=clock,
            secret_reader=secrets,
        )

    verify = _verifier(edges, settings.dns_verify_servers) if settings.dns_verify_servers else None
    answers = (
        _answers_reader(
            edges.resolver, settings.dns_verify_servers, timeout=settings.health_probe_timeout
        )
        if settings.dns_verify_servers
        else None
    )
    local_routes = HttpRoutes(edges.kube.for_region(settings.region))
    role_secrets = KubeRoleSecrets(edges.kube) if settings.role_reassert else None
    routes_by_region = {
        r: local_routes if r == settings.region else HttpRoutes(edges.kube.for_region(r))
        for r in edges.kube.regions
    }

    def collaborators_for(cr: Continuum) -> Collaborators:
        spec = cr.spec
        pair = None
        if spec.cnpg_pair is not None:
            pair = CnpgPair(
                edges.kube,
                pair=ObjectRef(
                    name=spec.cnpg_pair.name,
                    namespace=spec.cnpg_pair.namespace or cr.metadata.namespace,
                ),
                regions=spec.all_regions(),
                clock=clock,
            )
        replication = None
        if spec.replication_probe is not None:
            replication = _replication_probe(edges, cr, region=settings.region)
        latency = None
        if spec.health is not None and spec.health.latency_probe is not None:
            latency = HttpLatencyProbe(spec.health.latency_probe.urls)
        return Collaborators(
            latency=latency,
            replication=replication,
            pair=pair,
            roles=role_secrets if pair is not None else None,
            routes=local_routes if spec.http_route is not None else None,
            region_routes={
                r: routes_by_region[r] for r in spec.all_regions() if r in routes_by_region
            }
            if spec.http_route is not None
            else {},
            dns=edges.dns,
            verify_dns=verify,
            dns_answers=answers if edges.dns is not None else None,
        )

    return ContinuumEnvironment(
        region=settings.region,
        clock=clock,
        status=StatusStoreAdapter(edges.continuums),
        finalizers=ContinuumFinalizers(edges.continuums),
        copies=ContinuumCopiesReader(
            {
                r: edges.continuums
                if r == settings.region
                else ContinuumApi(edges.kube.for_region(r), clock=clock)
                for r in edges.kube.regions
            }
        ),
        audit=edges.audit,
        witness_for=witness_for,
        collaborators_for=collaborators_for,
        audit_tail=edges.audit_tail,
        resolver=edges.resolver,
        health_delay_seconds=settings.health_delay_seconds,
        safety_margin_seconds=settings.lease_safety_margin_seconds,
        vantages=settings.health_vantages,
        probe_timeout_seconds=settings.health_probe_timeout,
        start_gate=gate,
        write_queue=WriteQueue(yield_to=gate),
    )


def new_start_gate() -> StartGate:
    """The start gate of a controller process (``actors/continuum/startup.py``)."""
    return StartGate(concurrency=START_CONCURRENCY, jitter_seconds=START_JITTER_SECONDS)
