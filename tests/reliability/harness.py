"""The reliability suite's harness: the embedded stack in the test process (so faults can be
injected and every server inspected directly), controllers as real ``continuum run``
subprocesses, a loopback TCP proxy that can cut a witness connection, and the invariant
checker that samples the servers every ~50 ms while a scenario runs.

Invariants (``docs/reliability.md``):

* continuously: never two CNPG Clusters whose live spec says they are the primary; the
  witness lease generation never goes backwards; a change of lease holder between two
  consecutive revisions is either a handover (generation + 1) or an acquire after the
  previous lease expired (a change across an unsampled revision is counted, not judged);
* once settled: DNS answer = lease holder = acting primary; no journal left
  (``status.switchover`` empty on every CR copy); with ``routes=True``, the HTTPRoute of
  every region serves the holder's backend only;
* with ``status_grace``: no CR copy says ``Ready=True`` (phase Healthy/FailedOver) for
  longer than the grace while the servers disagree with the lease holder (two or no
  primaries, the primary not the holder's, a route that does not serve only the holder);
* audit: every ``eventId`` stored exactly once in the stream.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.abc
import httpx
import nats
import nats.errors
import nats.js.errors

from continuum.adapters.cnpg import FENCE_ANNOTATION
from continuum.messages.audit import AuditEvent, decode_event
from continuum.witness.codec import decode_lease
from continuum.witness.nats_kv import DEFAULT_BUCKET, encode_kv_key
from continuum_sim.process import dies_with_parent
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import eventually
from tests.e2e.helpers import A, B, dns_answers, last_switchover

TTL, RENEW, MARGIN = 6, 1, 2
CONTINUUM = ("dr.openova.io", "continuums")


def reliability_spec(*, auto_failover: bool = False, real_postgres: bool = False) -> StackSpec:
    """The sample application with a short lease (6 s TTL, renew every 1 s) and no drain,
    so TTL-scale scenarios take seconds. ``real_postgres``: real instances behind the
    Clusters (the CNPG handshake then takes what PostgreSQL takes, no added delay)."""
    return StackSpec(
        drain_seconds=0,
        ttl_seconds=TTL,
        renew_seconds=RENEW,
        auto_failover=auto_failover,
        auto_failover_observations=2,
        cnpg_delay=0.0 if real_postgres else 0.2,
        real_postgres=real_postgres,
    )


def controller_env(
    stack: SimStack, region: str, *, api_port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of ``continuum run`` for ``region`` against ``stack`` (one instance
    per region, no leader election)."""
    nameservers = ",".join(stack.pdns.nameservers)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTINUUM_", "CATALYST_"))}
    env.update(
        {
            "CONTINUUM_REGION": region,
            "CONTINUUM_KUBECONFIG": str(stack.kubeconfig),
            "CONTINUUM_REGION_CONTEXTS": ",".join(f"{r}={r}" for r in stack.spec.regions),
            "CONTINUUM_NATS_URL": stack.nats.url,
            "CONTINUUM_DNS_WRITER": "powerdns",
            "CONTINUUM_POWERDNS_API_URL": stack.pdns.api_url,
            "CONTINUUM_POWERDNS_API_KEY": stack.pdns.api_key,
            "CONTINUUM_DNS_VERIFY_SERVERS": nameservers,
            "CONTINUUM_HEALTH_VANTAGES": nameservers,
            "CONTINUUM_HEALTH_PROBE_TIMEOUT": "1",
            "CONTINUUM_HEALTH_DELAY_SECONDS": "0",
            "CONTINUUM_LEADER_ELECTION": "false",
            "CONTINUUM_LEASE_SAFETY_MARGIN_SECONDS": str(MARGIN),
            "CONTINUUM_API_ADDR": f"127.0.0.1:{api_port}",
            "CONTINUUM_METRICS_ADDR": "",
            "CONTINUUM_API_TOKEN": stack.api_token,
            "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS": "5",
        }
    )
    env.update(extra or {})
    return env


class ControllerProcess:
    """One ``python -m continuum run`` subprocess for one region; stdout/stderr go to
    ``<workdir>/controller-<region>.log`` (appended across restarts). Stopped by its PID.

    Its API and metrics bind port 0: the process binds free ports itself and logs them
    (``controller_listening``); :attr:`port` and :attr:`metrics_port` are read from that line
    at every start (a restarted process may get other ports)."""

    def __init__(
        self, stack: SimStack, region: str, *, extra: dict[str, str] | None = None
    ) -> None:
        self.stack = stack
        self.region = region
        self.port = 0
        self.metrics_port = 0
        self.env = controller_env(
            stack,
            region,
            api_port=0,
            extra={"CONTINUUM_METRICS_ADDR": "127.0.0.1:0", **(extra or {})},
        )
        self.log_path = stack.workdir / f"controller-{region}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    async def start(self, *, ready_timeout: float = 30.0) -> None:
        """Start the process and return once its API knows the sample CR."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = self._spawn()
        self.starts += 1
        self.port = self.metrics_port = 0
        ns, name = self.stack.spec.namespace, self.stack.spec.name
        with anyio.fail_after(ready_timeout):
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"controller {self.region} exited: {self.log_tail()}")
                if not self.port:
                    self._read_listening(offset)
                    if not self.port:
                        await anyio.sleep(0.05)
                        continue
                with contextlib.suppress(httpx.HTTPError):
                    got = await self.api("GET", f"/v1/continuums/{ns}/{name}", timeout=2)
                    if got.status_code == 200:
                        return
                await anyio.sleep(0.05)

    def _read_listening(self, offset: int) -> None:
        """Take the ports from this run's ``controller_listening`` line, if logged yet."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("event") == "controller_listening":
                        self.port = int(record["api"].rpartition(":")[2])
                        self.metrics_port = int(record["metrics"].rpartition(":")[2])
                        return

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                dies_with_parent([sys.executable, "-m", "continuum", "run"]),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed, no lease released."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.kills += 1
            await _reaped(proc, timeout=10)

    async def terminate(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; returns the exit code. The event loop keeps
        running meanwhile (it serves the emulators and the proxy the process talks to)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if not await _reaped(proc, timeout=15):
                proc.kill()
                await _reaped(proc, timeout=10)
        return proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, *, timeout: float = 10) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={
                "X-Catalyst-Owner-Tier": "true",
                "Authorization": f"Bearer {self.stack.api_token}",
            },
            timeout=timeout,
        )

    async def api(
        self, method: str, path: str, *, timeout: float = 10, **kw: Any
    ) -> httpx.Response:
        async with self.client(timeout=timeout) as client:
            return await client.request(method, path, **kw)

    async def metrics(self) -> dict[str, float]:
        """The process's Prometheus samples, ``name{labels}`` → value."""
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_events(self, event: str) -> list[dict[str, Any]]:
        """Every JSON log line of this region's controller whose ``event`` is ``event``."""
        out: list[dict[str, Any]] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    out.append(record)
        return out


@contextlib.asynccontextmanager
async def running_controllers(
    stack: SimStack,
    regions: Iterable[str] = (A, B),
    *,
    extra: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[dict[str, ControllerProcess]]:
    """Start one controller subprocess per region; on exit SIGTERM each (they must stop)."""
    procs = {
        region: ControllerProcess(stack, region, extra=(extra or {}).get(region))
        for region in regions
    }
    try:
        async with anyio.create_task_group() as tg:
            for proc in procs.values():
                tg.start_soon(proc.start)
        yield procs
    finally:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for proc in procs.values():
                    tg.start_soon(proc.terminate)


async def _reaped(proc: subprocess.Popen[bytes], *, timeout: float) -> bool:
    """Poll until ``proc`` exited (reaping it); False after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() >= end:
            return False
        await anyio.sleep(0.02)
    return True


# --- a loopback TCP proxy that can be cut ------------------------------------------------


class CuttableProxy:
    """``127.0.0.1:<port>`` → ``upstream``. ``cut()`` breaks every open connection and
    refuses new ones (they are accepted and closed at once) until ``heal()``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0  # bound by serve() (port 0: the kernel picks), read back from the socket
        self.is_cut = False
        self._scopes: set[anyio.CancelScope] = set()
        self._listener: anyio.abc.SocketListener | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self.is_cut = True
        for scope in list(self._scopes):
            scope.cancel()

    def heal(self) -> None:
        self.is_cut = False

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        async with listener:
            await listener.serve(self._handle)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            if self.is_cut:
                return
            try:
                upstream = await anyio.connect_tcp(*self.upstream)
            except OSError:
                return
            scope = anyio.CancelScope()
            self._scopes.add(scope)
            try:
                with scope:
                    async with upstream, anyio.create_task_group() as tg:

                        async def pump(src: anyio.abc.SocketStream, dst: Any) -> None:
                            with contextlib.suppress(
                                anyio.EndOfStream,
                                anyio.BrokenResourceError,
                                OSError,
                                anyio.ClosedResourceError,
                            ):
                                async for chunk in src:
                                    await dst.send(chunk)
                            tg.cancel_scope.cancel()

                        tg.start_soon(pump, client, upstream)
                        tg.start_soon(pump, upstream, client)
            finally:
                self._scopes.discard(scope)


# --- the invariant checker ----------------------------------------------------------------


@dataclass
class LeaseSample:
    revision: int
    holder: str
    generation: int
    acquired_at: datetime | None
    expires_at: datetime | None
    seen_at: datetime


@dataclass
class InvariantChecker:
    """Samples the servers every ``interval`` seconds while running (see module docs).

    ``blind`` regions are left out of the two-primaries check while their API is
    partitioned (nobody, the checker included, could observe them then); the check on the
    remaining regions and on the witness continues.
    """

    stack: SimStack
    interval: float = 0.05
    blind: set[str] = field(default_factory=set)
    status_grace: float | None = None
    """Seconds a CR copy may still say ``Ready=True`` after the servers stopped agreeing
    with the lease holder (the status follows an observation; ``None``: not checked)."""
    samples: int = 0
    lease_reads: int = 0
    unjudged_gaps: int = 0
    violations: list[str] = field(default_factory=list)
    leases: list[LeaseSample] = field(default_factory=list)
    primaries_seen: set[tuple[str, ...]] = field(default_factory=set)
    ready_while_wrong: dict[str, float] = field(default_factory=dict)
    """Region → monotonic time since its CR copy has said Ready=True while the world
    disagreed (cleared when either stops)."""
    longest_ready_while_wrong: float = 0.0

    async def run(self) -> None:
        nc = await nats.connect(
            self.stack.nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1
        )
        kv: Any = None
        key = encode_kv_key(self.stack.key)
        try:
            while True:
                self._sample_clusters()
                if kv is None:
                    with contextlib.suppress(Exception):
                        kv = await nc.jetstream(timeout=1).key_value(DEFAULT_BUCKET)
                if kv is not None:
                    with contextlib.suppress(
                        nats.errors.Error, nats.js.errors.KeyNotFoundError, OSError, TimeoutError
                    ):
                        with anyio.fail_after(1):
                            entry = await kv.get(key)
                        self._sample_lease(entry.revision, entry.value)
                if self.status_grace is not None:
                    self._sample_status()
                self.samples += 1
                await anyio.sleep(self.interval)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await nc.close()

    def _sample_clusters(self) -> None:
        seen = tuple(r for r in self.stack.acting_primaries() if r not in self.blind)
        self.primaries_seen.add(seen)
        if len(seen) > 1:
            self.violations.append(f"two clusters acting as primary: {seen}")

    def _sample_lease(self, revision: int, value: bytes | None) -> None:
        if value is None:
            return
        self.lease_reads += 1
        lease = decode_lease(value)
        sample = LeaseSample(
            revision=revision,
            holder=lease.holder,
            generation=lease.generation,
            acquired_at=lease.acquired_at,
            expires_at=lease.expires_at,
            seen_at=datetime.now(UTC),
        )
        last = self.leases[-1] if self.leases else None
        if last is not None and last.revision == revision:
            return
        if last is not None:
            if sample.generation < last.generation:
                self.violations.append(f"lease generation went back: {last} -> {sample}")
            if sample.revision != last.revision + 1:
                # A write fell between two samples: a holder change cannot be judged.
                self.unjudged_gaps += 1
            elif sample.holder and last.holder and sample.holder != last.holder:
                handover = sample.generation == last.generation + 1
                expired = (
                    last.expires_at is not None
                    and sample.acquired_at is not None
                    and sample.acquired_at >= last.expires_at
                )
                if not (handover or expired):
                    self.violations.append(f"lease taken while live: {last} -> {sample}")
        self.leases.append(sample)

    def _sample_status(self) -> None:
        holder = self.leases[-1].holder if self.leases else ""
        wrong = world_disagrees(self.stack, holder) if holder else "no lease holder sampled"
        now = time.monotonic()
        for region in self.stack.spec.regions:
            if region in self.blind or not wrong or not says_ready(self.stack, region):
                self.ready_while_wrong.pop(region, None)
                continue
            since = self.ready_while_wrong.setdefault(region, now)
            lasted = now - since
            self.longest_ready_while_wrong = max(self.longest_ready_while_wrong, lasted)
            assert self.status_grace is not None
            if lasted > self.status_grace:
                self.violations.append(
                    f"{region}'s CR says Ready=True for {lasted:.1f}s while {wrong}"
                )
                self.ready_while_wrong.pop(region)

    def holders(self) -> list[str]:
        """The distinct holders in the order they held the lease."""
        out: list[str] = []
        for sample in self.leases:
            if sample.holder and (not out or out[-1] != sample.holder):
                out.append(sample.holder)
        return out


@contextlib.asynccontextmanager
async def checking(
    stack: SimStack, *, status_grace: float | None = None
) -> AsyncIterator[InvariantChecker]:
    """Run an :class:`InvariantChecker` in the background for the block; fails the block
    with every violation it saw."""
    checker = InvariantChecker(stack, status_grace=status_grace)
    async with anyio.create_task_group() as tg:
        tg.start_soon(checker.run)
        yield checker
        tg.cancel_scope.cancel()
    assert checker.violations == [], checker.violations[:5]
    assert checker.samples > 0


# --- settled-state checks ----------------------------------------------------------------


def world_disagrees(stack: SimStack, holder: str) -> str:
    """What the Clusters (one primary, the holder's, not fenced) and every region's
    HTTPRoute say against "``holder`` writes"
    ('' when they agree): read straight from the emulated API servers (DNS is not in it:
    it is checked, with real queries, once settled)."""
    primaries = stack.acting_primaries()
    if primaries != [holder]:
        return f"acting primaries {primaries} != lease holder {holder}"
    annotations = stack.cluster(holder).get("metadata", {}).get("annotations") or {}
    if annotations.get(FENCE_ANNOTATION):
        return f"{holder}'s Cluster is fenced"
    for region in stack.spec.regions:
        serving = stack.serving_regions(region)
        if serving != {holder}:
            return f"route in {region} serves {sorted(serving)}, not only {holder}"
    return ""


def condition(stack: SimStack, region: str, type_: str) -> dict[str, Any]:
    """The condition ``type_`` of ``region``'s CR copy (empty when absent)."""
    for cond in stack.continuum_status(region).get("conditions") or ():
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def says_ready(stack: SimStack, region: str) -> bool:
    """Whether ``region``'s CR copy reports ``Ready=True`` (phase Healthy or FailedOver)."""
    return condition(stack, region, "Ready").get("status") == "True"


async def read_lease(stack: SimStack) -> tuple[str, int, datetime | None]:
    nc = await nats.connect(stack.nats.url)
    try:
        kv = await nc.jetstream(timeout=2).key_value(DEFAULT_BUCKET)
        entry = await kv.get(encode_kv_key(stack.key))
        assert entry.value is not None
        lease = decode_lease(entry.value)
        return lease.holder, lease.generation, lease.expires_at
    finally:
        await nc.close()


def journals(stack: SimStack) -> dict[str, Any]:
    """``status.switchover`` of every CR copy that still has one."""
    out: dict[str, Any] = {}
    for region in stack.spec.regions:
        journal = stack.continuum_status(region).get("switchover")
        if journal:
            out[region] = journal
    return out


async def unsettled(
    stack: SimStack,
    procs: dict[str, ControllerProcess] | None = None,
    *,
    routes: bool = False,
    ready: bool = False,
) -> str:
    """Why the run has not settled yet ('' once settled): a journal left, no live lease,
    the lease holder is not the only acting primary, (``routes``) a region's HTTPRoute does
    not serve only the holder, DNS does not answer the holder, (``ready``) the holder's CR
    copy does not say ``Ready=True`` and ``Converged=True``, or (with ``procs``) the
    holder's controller does not say it is acting."""
    left = journals(stack)
    if left:
        return f"journal left: {sorted(left)}"
    try:
        holder, _, expires = await read_lease(stack)
    except Exception as exc:
        return f"lease unreadable: {exc!r}"
    if not holder or expires is None or expires <= datetime.now(UTC):
        return f"no live lease (holder {holder!r})"
    primaries = stack.acting_primaries()
    if primaries != [holder]:
        return f"acting primaries {primaries} != lease holder {holder}"
    if (routes or ready) and (wrong := world_disagrees(stack, holder)):
        return wrong
    if not await dns_answers(stack, holder):
        return f"DNS does not answer {holder}"
    if ready:
        for type_ in ("Ready", "Converged"):
            cond = condition(stack, holder, type_)
            if cond.get("status") != "True":
                return f"{holder}'s CR: {type_}={cond.get('status')} ({cond.get('message')})"
    if procs is not None and holder in procs:
        ns, name = stack.spec.namespace, stack.spec.name
        try:
            summary = await procs[holder].api("GET", f"/v1/continuums/{ns}/{name}", timeout=2)
        except httpx.HTTPError as exc:
            return f"controller of {holder} does not answer: {exc!r}"
        if summary.status_code != 200 or summary.json().get("acting") is not True:
            return f"controller of {holder} is not acting: {summary.text[:200]}"
    return ""


async def wait_settled(
    stack: SimStack,
    procs: dict[str, ControllerProcess] | None = None,
    *,
    timeout: float = 40,
    routes: bool = False,
    ready: bool = False,
) -> str:
    """Poll the servers until the run settles (:func:`unsettled`); return the lease
    holder. Raises AssertionError with the last reason after ``timeout`` seconds."""
    why = "not checked"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        why = await unsettled(stack, procs, routes=routes, ready=ready)
        if not why:
            return (await read_lease(stack))[0]
        await anyio.sleep(0.1)
    raise AssertionError(f"not settled after {timeout}s: {why}")


async def stored_audit_events(stack: SimStack, *, url: str = "") -> list[AuditEvent]:
    """Every event in the audit stream (on ``url``, default the stack's NATS), in stream
    order (an ephemeral ordered read)."""
    nc = await nats.connect(url or stack.nats.url)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info = await js.stream_info("CATALYST_AUDIT")
        except nats.js.errors.NotFoundError:
            return []
        total = info.state.messages
        sub = await js.pull_subscribe("catalyst.audit", durable=None, stream="CATALYST_AUDIT")
        out: list[AuditEvent] = []
        try:
            while len(out) < total:
                try:
                    msgs = await sub.fetch(min(500, total - len(out)), timeout=2)
                except nats.errors.TimeoutError:
                    break
                for m in msgs:
                    out.append(decode_event(m.data))
                    await m.ack()
        finally:
            await sub.unsubscribe()
        assert len(out) == total, f"read {len(out)} of {total} stored events"
        return out
    finally:
        await nc.close()


def assert_stored_once(events: list[AuditEvent]) -> None:
    """Every ``eventId`` once in the stream; the failure lists each copy of the first few
    doubled events (type, reason, step, epoch, region, occurredAt, stream position)."""
    ids = [e.eventId for e in events]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    copies = [
        (pos, e.type.value, e.reason, e.step, e.epoch, e.region, e.occurredAt)
        for pos, e in enumerate(events)
        if e.eventId in dupes[:3]
    ]
    assert not dupes, f"audit events stored more than once: {dupes[:5]}; copies: {copies}"


async def switch(proc: ControllerProcess, to: str) -> httpx.Response:
    """DryRun then Confirm on ``proc``'s API; returns the switchover answer (202 expected)."""
    ns, name = proc.stack.spec.namespace, proc.stack.spec.name
    report = await proc.api("POST", f"/v1/continuums/{ns}/{name}/dry-run", json={"toRegion": to})
    assert report.status_code == 200, report.text
    body = report.json()
    return await proc.api(
        "POST",
        f"/v1/continuums/{ns}/{name}/switchover",
        json={"toRegion": to, "fingerprint": body["planFingerprint"]},
    )


async def switchover_finished(
    stack: SimStack, region: str, sid: str, *, timeout: float = 60
) -> dict[str, Any]:
    """Wait until ``region``'s CR copy records switchover ``sid`` as finished; return it."""
    await eventually(
        lambda: last_switchover(stack, region).get("id") == sid,
        timeout=timeout,
        what=f"switchover {sid} recorded in {region}",
    )
    return last_switchover(stack, region)


def approve_failback(stack: SimStack) -> None:
    """Set ``spec.failback.approved`` on every CR copy, so switchovers may go both ways."""
    ns, name = stack.spec.namespace, stack.spec.name
    for emulator in stack.emulators.values():
        cr = emulator.store.get(*CONTINUUM, ns, name)
        assert cr is not None
        cr["spec"]["failback"] = {"approved": True, "approvedBy": "reliability-suite"}
        cr.pop("status", None)
        emulator.apply(cr)


def other(region: str) -> str:
    return B if region == A else A
