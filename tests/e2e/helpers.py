"""What the end-to-end suites read at the servers, and the few drivers they share.

Every reader here goes to a real server: the lease and its KV revision in the real NATS
key-value bucket, audit events in the real JetStream stream, the DNS answer of the real
pdns_server through a fresh resolver, the zone as pdns' HTTP API serves it. The Kubernetes
state is read in-process from the emulators' stores (that path is not in their request logs).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import msgspec
import yaml
from aiohttp import web
from nats.aio.client import Client as NATS

from continuum.adapters.cnpg import ready_as_primary
from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import SystemClock
from continuum.messages.audit import AuditEvent, decode_event
from continuum.messages.lease import Lease
from continuum.switchover.dnsverify import verify_answer
from continuum.witness.nats_kv import DEFAULT_BUCKET, encode_kv_key, open_nats_kv
from continuum_sim.kube.requestinfo import parse_request_info
from continuum_sim.stack import SimStack
from continuum_sim.webserver import LocalWebServer
from tests.e2e.conftest import Controllers, eventually

__all__ = [
    "AUDIT_STREAM",
    "A",
    "B",
    "Call",
    "RecordingProxy",
    "audit_count",
    "audit_events",
    "confirm",
    "dns_answers",
    "dry_run",
    "lease",
    "lease_revision",
    "proxied_kubeconfig",
    "set_kv_write_limit",
    "writer_becomes",
    "writer_is",
    "zone_state",
]

A, B = "region-a", "region-b"
AUDIT_STREAM = "CATALYST_AUDIT"
KV_STREAM = f"KV_{DEFAULT_BUCKET}"

Call = tuple[str, str, str]


# --- the witness (real NATS KV) -----------------------------------------------------------


async def lease(stack: SimStack) -> Lease:
    """The lease as the witness stores it now."""
    witness = await open_nats_kv(stack.nats.url, clock=SystemClock())
    try:
        return await witness.read(stack.key)
    finally:
        await witness.aclose()


async def lease_revision(stack: SimStack) -> int:
    """The KV revision of the lease entry: it moves on every witness write (renewals too)."""
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        kv = await nc.jetstream().key_value(DEFAULT_BUCKET)
        entry = await kv.get(encode_kv_key(stack.key))
        return int(entry.revision or 0)
    finally:
        await nc.close()


async def set_kv_write_limit(stack: SimStack, max_bytes: int) -> None:
    """Set the lease bucket's largest accepted message (``-1``: no limit). A tiny limit
    makes the real server refuse every lease write while reads keep working."""
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        config = (await js.stream_info(KV_STREAM)).config
        config.max_msg_size = max_bytes
        await js.update_stream(config)
    finally:
        await nc.close()


# --- the audit stream (real JetStream) ----------------------------------------------------


async def audit_count(stack: SimStack) -> int:
    """How many events the audit stream stores."""
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        info = await nc.jetstream().stream_info(AUDIT_STREAM)
        return int(info.state.messages)
    finally:
        await nc.close()


async def audit_events(stack: SimStack) -> list[AuditEvent]:
    """Every event the audit stream stores, in stream order (read by sequence)."""
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(AUDIT_STREAM)).state
        out: list[AuditEvent] = []
        for seq in range(int(state.first_seq), int(state.last_seq) + 1):
            try:
                msg = await js.get_msg(AUDIT_STREAM, seq)
            except Exception:  # a deleted sequence leaves a gap
                continue
            if msg.data:
                out.append(decode_event(msg.data))
        return out
    finally:
        await nc.close()


# --- DNS (real pdns_server) ---------------------------------------------------------------


async def dns_answers(stack: SimStack, region: str) -> bool:
    """Whether every hostname answers with ``region``'s address at every listening address
    of pdns (a new resolver per query, so no cached answer), polling up to 3 s: pdns'
    ``ifurlup`` health checks run in real time and a loaded machine can delay one."""
    result = await verify_answer(
        AiodnsResolver(),
        hostnames=stack.spec.hostnames,
        vantages=stack.pdns.nameservers,
        expected_ips=stack.spec.ips[region],
        timeout=3.0,
        clock=SystemClock(),
    )
    return result.ok


async def zone_state(stack: SimStack) -> Any:
    """The zone as pdns' API serves it (serial and every rrset): equal before and after
    means nothing was written to it."""
    async with httpx.AsyncClient(headers={"X-API-Key": stack.pdns.api_key}) as client:
        answer = await client.get(
            f"{stack.pdns.api_url}/api/v1/servers/localhost/zones/{stack.spec.zone}."
        )
    answer.raise_for_status()
    zone = answer.json()
    rrsets = sorted(
        (r["name"], r["type"], sorted(rec["content"] for rec in r.get("records", [])))
        for r in zone.get("rrsets", [])
    )
    return zone.get("serial"), rrsets


# --- the whole picture --------------------------------------------------------------------


async def writer_is(stack: SimStack, region: str) -> list[str]:
    """Every way the servers disagree with "``region`` is the one writer": the Cluster specs
    of both regions (exactly one primary, Ready), the HTTPRoute at every region's API server,
    DNS, the witness lease. Empty when they all agree.

    A switchover re-weights the route of the region whose instance runs it (the old
    primary's); the other regions' copies are converged by the new holder's instance at its
    next observations, so right after a switchover poll with :func:`writer_becomes`."""
    problems: list[str] = []
    if stack.acting_primaries() != [region]:
        problems.append(f"primaries by live spec: {stack.acting_primaries()}")
    if not ready_as_primary(region, stack.cluster(region)):
        problems.append(f"{region} Cluster not Ready as primary: {stack.cluster(region)['status']}")
    for where in stack.spec.regions:
        if stack.serving_regions(where) != {region}:
            problems.append(f"route in {where}: {stack.route_weights(where)}")
    if not await dns_answers(stack, region):
        problems.append("DNS does not answer with the writer's address")
    held = await lease(stack)
    if held.holder != region:
        problems.append(f"lease holder {held.holder!r} (gen {held.generation})")
    return problems


async def writer_becomes(stack: SimStack, region: str, *, timeout: float) -> None:
    """Poll :func:`writer_is` until the servers agree on ``region``; AssertionError naming
    what still disagreed after ``timeout`` real seconds."""
    problems: list[str] = []

    async def agrees() -> bool:
        nonlocal problems
        problems = await writer_is(stack, region)
        return not problems

    try:
        await eventually(agrees, timeout=timeout, what=f"{region} the one writer")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {problems}") from None


# --- the API --------------------------------------------------------------------------------


async def dry_run(run: Controllers, region: str, to: str, *, reason: str = "") -> dict[str, Any]:
    """POST …/dry-run on ``region``'s instance; the report (asserts 200)."""
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    body: dict[str, Any] = {"toRegion": to}
    if reason:
        body["reason"] = reason
    answer = await run.api(region, "POST", f"/v1/continuums/{ns}/{name}/dry-run", json=body)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


async def confirm(run: Controllers, region: str, to: str, fingerprint: str) -> httpx.Response:
    """POST …/switchover (Confirm Switchover) on ``region``'s instance."""
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    return await run.api(
        region,
        "POST",
        f"/v1/continuums/{ns}/{name}/switchover",
        json={"toRegion": to, "fingerprint": fingerprint},
    )


def last_switchover(stack: SimStack, region: str) -> dict[str, Any]:
    """``status.lastSwitchover`` of the CR in ``region`` (empty when none)."""
    found: dict[str, Any] = stack.continuum_status(region).get("lastSwitchover") or {}
    return found


# --- recording the controllers' Kubernetes calls ------------------------------------------

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)


class RecordingProxy:
    """A streaming HTTP proxy in front of one emulator that records the RBAC tuple
    ``(verb, group, resource[/subresource])`` of every request passing through it.

    The emulator's own request log also holds the CNPG operator emulation's calls; a proxy
    that only the controllers are pointed at tells theirs apart. Watches stream through.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: set[Call] = set()
        self.url = ""
        self._http = LocalWebServer(self._app, hosts=("127.0.0.1",), shutdown_timeout=0.5)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        await self._http.start()
        self.url = f"http://127.0.0.1:{self._http.port}"

    async def stop(self) -> None:
        """Close the upstream connections (ending streamed watches), then the listener."""
        if self._session is not None:
            await self._session.close()
        await self._http.stop()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        info = parse_request_info(request.method, request.path, request.query)
        if info.resource:
            resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
            self.calls.add((info.verb, info.group, resource))
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method,
            f"{self.upstream}{request.path_qs}",
            headers=headers,
            data=body or None,
            timeout=aiohttp.ClientTimeout(total=None),
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


def proxied_kubeconfig(stack: SimStack, proxies: dict[str, RecordingProxy], path: Path) -> Path:
    """A copy of the stack's kubeconfig whose clusters point at ``proxies`` (by context)."""
    config = yaml.safe_load(Path(stack.kubeconfig).read_text())
    contexts = {c["name"]: c["context"]["cluster"] for c in config["contexts"]}
    for context, proxy in proxies.items():
        for cluster in config["clusters"]:
            if cluster["name"] == contexts[context]:
                cluster["cluster"]["server"] = proxy.url
    path.write_text(msgspec.json.encode(config).decode())
    return path


def union(calls: Iterable[Iterable[Call]]) -> set[Call]:
    out: set[Call] = set()
    for found in calls:
        out |= set(found)
    return out
