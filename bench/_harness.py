"""Shared harness of ``bench/scale.py`` and ``bench/kopf_peer.py``: an operator process over N
Continuum CRs in an emulator process, its lease writes observed from outside, its CPU and
memory measured by PID. The method is described in ``bench/scale.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import nats
import psutil  # type: ignore[import-untyped]
import yaml

from continuum.witness.codec import decode_lease

GROUP_PATH = "/apis/dr.openova.io/v1/namespaces/{ns}/continuums"
BUCKET = "continuum-leases"
BENCH = Path(__file__).resolve().parent
REGION = "region-a"
STANDBY = "region-b"


# --- processes -------------------------------------------------------------------------------


@dataclass
class Emulator:
    """A ``continuum sim kube`` process on a free port, stopped by its PID."""

    proc: subprocess.Popen[bytes]
    url: str
    kubeconfig: Path

    @classmethod
    def start(cls, workdir: Path) -> Emulator:
        """Start it and return once it serves; its output goes to ``workdir/emulator.log``
        (a file, so a chatty emulator can never block on a full pipe)."""
        kubeconfig = workdir / "kubeconfig"
        log_path = workdir / "emulator.log"
        argv = [sys.executable, "-m", "continuum", "sim", "kube", "--port", "0"]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*argv, "--kubeconfig", str(kubeconfig)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            lines = log_path.read_text().splitlines()
            urls = [x.rsplit(" ", 1)[1] for x in lines if "listening on " in x]
            if urls and any(x.startswith("kubeconfig:") for x in lines):
                return cls(proc, urls[0].strip(), kubeconfig)
            time.sleep(0.05)
        proc.kill()
        raise RuntimeError(f"the Kubernetes API emulator did not start (see {log_path})")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def continuum_command(
    kubeconfig: Path,
    namespace: str,
    *,
    log_level: str = "warning",
    trust_env: bool = True,
    snapshot: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """``continuum run`` for one region, watching ``namespace``; no leader election, API,
    metrics or NATS audit (audit events go to the log sink).

    ``trust_env=False`` and ``snapshot`` run it through :func:`run_probed_controller`
    instead (what-if and memory breakdown; see there)."""
    context = str(yaml.safe_load(kubeconfig.read_text())["current-context"])
    probes = {}
    if not trust_env:
        probes["BENCH_KUBE_TRUST_ENV"] = "off"
    if snapshot is not None:
        probes["BENCH_TRACEMALLOC"] = str(snapshot)
    if os.environ.get("BENCH_GC_LOG"):
        probes["BENCH_GC_LOG"] = os.environ["BENCH_GC_LOG"]
    env = {
        **probes,
        **os.environ,
        "CONTINUUM_REGION": REGION,
        "CONTINUUM_KUBECONFIG": str(kubeconfig),
        # The CRs' standby region is served by the same emulator: the controller checks that
        # every region of a spec has a context.
        "CONTINUUM_REGION_CONTEXTS": ",".join(f"{r}={context}" for r in (REGION, STANDBY)),
        "CONTINUUM_WATCH_NAMESPACES": namespace,
        "CONTINUUM_API_ADDR": "",
        "CONTINUUM_METRICS_ADDR": "",
        "CONTINUUM_LEADER_ELECTION": "false",
        "CONTINUUM_WITNESS_IN_MEMORY": "true",
        "CONTINUUM_LOG_LEVEL": log_level,
    }
    if probes:
        path = f"import sys; sys.path.insert(0, {str(BENCH)!r}); "
        code = path + "import _harness; _harness.run_probed()"
        return [sys.executable, "-c", code], env
    return [sys.executable, "-m", "continuum", "run"], env


def run_probed() -> None:
    """``continuum run`` in this process, altered for a measurement (never the product):

    * ``BENCH_KUBE_TRUST_ENV=off``: kubernetes-asyncio's aiohttp session is made with
      ``trust_env=False`` (it hard-codes True: every request then reads proxy variables and
      looks up ~/.netrc in a worker thread) — what the controller would cost without that;
    * ``BENCH_TRACEMALLOC=PATH``: allocations are traced, and SIGUSR1 writes the live memory
      by file and by line (top 30 each) to PATH;
    * ``BENCH_GC_LOG=PATH`` (from the bench's own environment): every collection of the
      oldest generation is appended to PATH (wall time taken, objects tracked after it).
    """
    import signal as signals
    import tracemalloc
    import types

    if os.environ.get("BENCH_KUBE_TRUST_ENV") == "off":
        import kubernetes_asyncio.client.rest as rest

        def session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
            return aiohttp.ClientSession(*args, **{**kwargs, "trust_env": False})

        patched = types.SimpleNamespace(**{**vars(aiohttp), "ClientSession": session})
        setattr(rest, "aiohttp", patched)  # noqa: B010 - mypy: the module is untyped
    gc_log = os.environ.get("BENCH_GC_LOG")
    if gc_log:
        import collections
        import gc

        began: list[float] = [0.0]

        def timed(phase: str, info: dict[str, int]) -> None:
            if info["generation"] != 2:
                return
            if phase == "start":
                began[0] = time.perf_counter()
                return
            took = time.perf_counter() - began[0]
            tracked = gc.get_objects()
            with open(gc_log, "a") as out:
                out.write(f"{time.time():.3f} gen2 {took * 1000:.1f} ms")
                out.write(f" collected={info['collected']} tracked={len(tracked)}\n")
                kinds = collections.Counter(type(o).__qualname__ for o in tracked)
                out.write("  " + ", ".join(f"{k}={n}" for k, n in kinds.most_common(12)) + "\n")
            del tracked

        gc.callbacks.append(timed)
    dump = os.environ.get("BENCH_TRACEMALLOC")
    if dump:
        tracemalloc.start(1)

        def write(signum: int, frame: Any) -> None:
            snapshot = tracemalloc.take_snapshot()
            with open(dump, "w") as out:
                for key in ("filename", "lineno"):
                    stats = snapshot.statistics(key)
                    out.write(f"--- by {key}: {sum(s.size for s in stats) / 2**20:.2f} MiB\n")
                    for stat in stats[:30]:
                        frame_ = stat.traceback[0]
                        where = frame_.filename.replace(sys.prefix, "<venv>")
                        line = f":{frame_.lineno}" if key == "lineno" else ""
                        size = f"{stat.size / 2**20:8.2f} MiB {stat.count:9d} blocks"
                        out.write(f"{size}  {where}{line}\n")

        signals.signal(signals.SIGUSR1, write)
    from continuum.cli.entry import main

    sys.exit(main(["run"]))


# --- the CRs ---------------------------------------------------------------------------------


def lease_client(witness: str, nats_url: str, *, ttl: int, renew: int) -> dict[str, Any]:
    config: dict[str, Any] = {"ttlSeconds": ttl, "renewSeconds": renew}
    if witness == "nats-kv":
        config.update(url=nats_url, bucket=BUCKET)
    return {"kind": witness, "config": config}


def cr_body(namespace: str, index: int, client: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "dr.openova.io/v1",
        "kind": "Continuum",
        "metadata": {"name": f"cr-{index:05d}", "namespace": namespace},
        "spec": {
            "applicationRef": f"app-{index}",
            "primaryRegion": REGION,
            "hotStandbyRegions": [STANDBY],
            "leaseClient": client,
            # No database behind these CRs: stateless (cnpg-pair would need a cnpgPair).
            "switchover": {"mechanism": "stateless"},
        },
    }


async def create_crs(
    url: str, namespace: str, indexes: range, client: dict[str, Any], *, concurrency: int = 32
) -> None:
    """Create the namespace (if absent) and one CR per index over HTTP."""
    todo = list(indexes)
    async with aiohttp.ClientSession(url) as http:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        async with http.post("/api/v1/namespaces", json=ns) as resp:
            if resp.status not in (201, 409):
                raise RuntimeError(f"namespace: {resp.status} {await resp.text()}")

        async def worker() -> None:
            while todo:
                body = cr_body(namespace, todo.pop(), client)
                async with http.post(GROUP_PATH.format(ns=namespace), json=body) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create: {resp.status} {await resp.text()}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- observing lease writes from outside -----------------------------------------------------


@dataclass
class RenewLog:
    """Every lease write seen: slot → generation → renew time (epoch seconds)."""

    writes: dict[str, dict[int, float]] = field(default_factory=dict)

    def add(self, slot: str, generation: int, expires_at: datetime, ttl: float) -> None:
        self.writes.setdefault(slot, {})[generation] = expires_at.timestamp() - ttl

    def acquired(self) -> int:
        return len(self.writes)

    def lateness(self, interval: float, *, start: float, end: float) -> list[float]:
        """Lateness of each renewal inside [start, end) (see module docs)."""
        out: list[float] = []
        for by_gen in self.writes.values():
            renewals = [(g - 1, t) for g, t in by_gen.items() if g >= 2]
            if len(renewals) < 2:
                continue  # one renewal is its own anchor: it says nothing about lateness
            anchor = min(t - k * interval for k, t in renewals)
            out.extend(t - k * interval - anchor for k, t in renewals if start <= t < end)
        return out

    def renewals_between(self, start: float, end: float) -> int:
        return sum(
            1 for by in self.writes.values() for g, t in by.items() if g >= 2 and start <= t < end
        )


class _Status(msgspec.Struct):
    leaseGeneration: int | None = None
    leaseExpiresAt: datetime | None = None


class _Meta(msgspec.Struct):
    name: str
    namespace: str = ""
    resourceVersion: str = ""


class _Object(msgspec.Struct):
    metadata: _Meta
    status: _Status = msgspec.field(default_factory=_Status)


class _Event(msgspec.Struct):
    type: str
    object: _Object


class _List(msgspec.Struct):
    metadata: dict[str, Any]
    items: list[_Object] = []


async def watch_status(url: str, namespace: str, log: RenewLog, *, ttl: float) -> None:
    """Record the lease fields of every status the CRs in ``namespace`` take (until cancelled).

    Since status carries the lease only as of its last change of holder (renewals are not
    written), this sees acquisitions, not renewals."""

    def record(obj: _Object, _: str) -> None:
        status = obj.status
        if status.leaseGeneration and status.leaseExpiresAt is not None:
            slot = f"{namespace}/{obj.metadata.name}"
            log.add(slot, status.leaseGeneration, status.leaseExpiresAt, ttl)

    await _watch_crs(url, namespace, record)


async def count_writes(url: str, namespace: str, stamps: list[float]) -> None:
    """Append the time of every write to a CR of ``namespace`` (a ``MODIFIED`` watch event:
    status or spec, ours or anyone's) to ``stamps``, until cancelled."""

    def record(_: _Object, kind: str) -> None:
        if kind == "MODIFIED":
            stamps.append(time.time())

    await _watch_crs(url, namespace, record)


async def _watch_crs(url: str, namespace: str, record: Callable[[_Object, str], None]) -> None:
    """Call ``record(object, event type)`` for every CR in ``namespace`` listed (``LISTED``)
    or changed, until cancelled.

    List, then watch from the list's resourceVersion; when the watch ends, resume it; when
    it fails (410 Expired, an ``ERROR`` event, a dropped stream) list again — a write missed
    in between only costs one sample, the list records every CR's current one."""
    decode = msgspec.json.Decoder(_Event).decode
    path = GROUP_PATH.format(ns=namespace)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(url, timeout=timeout) as http:
        version = ""
        while True:
            if not version:
                async with http.get(path) as resp:
                    listed = msgspec.json.decode(await resp.read(), type=_List)
                version = listed.metadata["resourceVersion"]
                for item in listed.items:
                    record(item, "LISTED")
            params = {"watch": "true", "resourceVersion": version, "timeoutSeconds": "3600"}
            try:
                async with http.get(path, params=params) as resp:
                    if resp.status != 200:
                        version = ""
                        continue
                    async for line in resp.content:
                        event = decode(line)
                        if event.type == "ERROR":
                            version = ""
                            break
                        version = event.object.metadata.resourceVersion or version
                        if event.type != "BOOKMARK":
                            record(event.object, event.type)
            except (aiohttp.ClientError, msgspec.ValidationError):
                version = ""


async def watch_bucket(
    nats_url: str, log: RenewLog, *, bucket: str = BUCKET, namespace: str = ""
) -> None:
    """Record every write to the lease bucket (a plain subscription on its subjects), only
    for slots of ``namespace`` when given, until cancelled."""
    nc = await nats.connect(nats_url)
    prefix = f"{namespace}/" if namespace else ""

    async def on_write(msg: Any) -> None:
        if msg.data:
            lease = decode_lease(msg.data)
            if lease.key.startswith(prefix) and lease.holder and lease.expires_at is not None:
                log.add(lease.key, lease.generation, lease.expires_at, lease.ttl_seconds)

    try:
        await nc.subscribe(f"$KV.{bucket}.>", cb=on_write)
        await asyncio.Event().wait()
    finally:
        await nc.close()


# --- measuring a process ---------------------------------------------------------------------


class Meter:
    """CPU seconds (user + system) and RSS of one process, by PID."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)

    def cpu(self) -> float:
        times = self.proc.cpu_times()
        return float(times.user + times.system)

    def rss_mib(self) -> float:
        return float(self.proc.memory_info().rss) / 2**20


@dataclass
class Result:
    """One operator's figures over the measured window."""

    name: str
    crs: int
    acquired: int
    acquire_s: float
    window_s: float
    cpu_pct: float
    emulator_cpu_pct: float
    rss_base_mib: float
    rss_start_mib: float
    rss_mib: float
    lateness: list[float]
    renewals_seen: int
    renewals_due: int
    cr_writes: int = 0
    """Writes to the CRs (watch ``MODIFIED`` events) inside the window."""
    writes_settled_s: float = 0.0
    """From all leases acquired until the CR writes paused for one interval (the window
    starts then; bounded, see :func:`measure`)."""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rss_per_cr_kib(self) -> float:
        return (self.rss_mib - self.rss_base_mib) * 1024 / max(1, self.crs - 1)

    def lines(self) -> list[str]:
        ms = [x * 1000 for x in sorted(self.lateness)]
        acquired = "all leases" if self.acquired >= self.crs else f"ONLY {self.acquired} leases"
        acquired += " seen"
        return [
            f"{self.name}: {self.crs} CRs, {acquired} acquired {self.acquire_s:.1f} s after"
            f" creation began; CR writes paused {self.writes_settled_s:.1f} s after that;"
            f" window {self.window_s:.0f} s",
            f"  renew lateness p50={pct(ms, 0.50):.1f} ms p99={pct(ms, 0.99):.1f} ms"
            f" max={max(ms, default=float('nan')):.1f} ms"
            f" (renewals observed {self.renewals_seen}, due ~{self.renewals_due})",
            f"  CPU {self.cpu_pct:.1f} % (emulator {self.emulator_cpu_pct:.1f} %;"
            " 100 % = one core)",
            f"  RSS {self.rss_mib:.1f} MiB at the window's end ({self.rss_start_mib:.1f} MiB at"
            f" its start; baseline with 1 CR {self.rss_base_mib:.1f} MiB);"
            f" {self.rss_per_cr_kib:.1f} KiB per CR",
            f"  API writes to the CRs in the window: {self.cr_writes}"
            f" = {self.writes_per_cr_per_5min:.3f} per CR per 5 min",
        ]

    @property
    def writes_per_cr_per_5min(self) -> float:
        return self.cr_writes / max(1, self.crs) * 300 / max(1e-9, self.window_s)


def pct(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    observer: asyncio.Task[Any] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if observer is not None and observer.done():
            raise RuntimeError(f"the observer stopped while waiting for {what}") from (
                observer.exception()
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


async def _profile(pid: int, output: Path, *, seconds: float) -> None:
    """Sample ``pid`` with py-spy for ``seconds`` (collapsed stacks, idle frames dropped) in
    the background; py-spy's own CPU is not charged to the measured process. Samples per
    second: ``BENCH_PYSPY_RATE`` (default 50; a quiet controller gives few samples at 50, so
    raise it for a finer profile, at more sampling overhead)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).with_name("py-spy")
    await asyncio.create_subprocess_exec(
        str(beside) if beside.exists() else "py-spy", "record", "--nonblocking",
        "--format", "raw", "--rate", str(int(os.environ.get("BENCH_PYSPY_RATE", "50"))),
        "--pid", str(pid), "--duration", str(int(seconds) - 1), "--output", str(output),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def measure(
    name: str,
    *,
    emulator: Emulator,
    namespace: str,
    command: tuple[list[str], dict[str, str]],
    client: dict[str, Any],
    crs: int,
    seconds: float,
    observe: Callable[[RenewLog], Any],
    workdir: Path,
    profile_dir: Path | None = None,
    snapshot: Path | None = None,
) -> Result:
    """Run one operator process over ``crs`` CRs in ``namespace`` and measure it (module docs)."""
    interval = float(client["config"]["renewSeconds"])
    log = RenewLog()
    observer = asyncio.create_task(observe(log))
    stamps: list[float] = []
    writes = asyncio.create_task(count_writes(emulator.url, namespace, stamps))
    await create_crs(emulator.url, namespace, range(1), client)
    argv, env = command
    out = (workdir / f"{name}.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=out, stderr=subprocess.STDOUT
    )
    try:
        meter, emu = Meter(proc.pid), Meter(emulator.proc.pid)
        try:
            await _wait_for(
                lambda: log.acquired() >= 1,
                timeout=60,
                what=f"{name}: first lease",
                observer=observer,
            )
        except TimeoutError:
            out.flush()
            tail = "\n".join((workdir / f"{name}.log").read_text().splitlines()[-20:])
            raise TimeoutError(f"{name}: no first lease; its log ends:\n{tail}") from None
        await asyncio.sleep(2.0)
        rss_base = meter.rss_mib()
        began = time.time()
        await create_crs(emulator.url, namespace, range(1, crs), client)
        # An overloaded operator may never get there: measure it anyway, and say so.
        with contextlib.suppress(TimeoutError):
            await _wait_for(
                lambda: log.acquired() >= crs,
                timeout=60 + crs / 50,
                what=f"{name}: all leases",
                observer=observer,
            )
        acquired = log.acquired()
        acquire_s = time.time() - began
        await asyncio.sleep(interval)
        # Steady state: the start-up's writes (finalizers, first statuses) are over too.
        settle_bound = 3 * interval + crs / 200
        quiet_at = time.time()
        while time.time() - quiet_at < settle_bound:
            last = stamps[-1] if stamps else 0.0
            if time.time() - last >= interval:
                break
            await asyncio.sleep(1.0)
        writes_settled_s = time.time() - began - acquire_s
        start, cpu0, emu0 = time.time(), meter.cpu(), emu.cpu()
        rss_start = meter.rss_mib()
        if profile_dir is not None:
            await _profile(proc.pid, profile_dir / f"{slug(name)}.txt", seconds=seconds)
        await asyncio.sleep(seconds)
        end, cpu1, emu1 = time.time(), meter.cpu(), emu.cpu()
        rss = meter.rss_mib()
        await asyncio.sleep(1.0)  # writes of the window's last renewals arrive
        if snapshot is not None:
            proc.send_signal(signal.SIGUSR1)
            await _wait_for(snapshot.exists, timeout=120, what="the tracemalloc snapshot")
            await asyncio.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        out.close()
        observer.cancel()
        writes.cancel()
    window = end - start
    in_window = sum(1 for t in stamps if start <= t < end)
    return Result(
        name=name,
        crs=crs,
        acquired=acquired,
        acquire_s=acquire_s,
        writes_settled_s=writes_settled_s,
        window_s=window,
        cpu_pct=100 * (cpu1 - cpu0) / window,
        emulator_cpu_pct=100 * (emu1 - emu0) / window,
        rss_base_mib=rss_base,
        rss_start_mib=rss_start,
        rss_mib=rss,
        lateness=log.lateness(interval, start=start, end=end),
        renewals_seen=log.renewals_between(start, end),
        renewals_due=int(crs * window / interval),
        cr_writes=in_window,
    )


@dataclass
class ColdStart:
    """A controller started over ``crs`` CRs that already exist (a restart, an upgrade)."""

    crs: int
    acquired: int
    first_s: float
    """Process start → first lease acquired (imports, clients, watch sync)."""
    all_s: float
    """Process start → every lease acquired (``nan`` when not all were)."""
    restart_all_s: float | None = None
    """``restart``: SIGKILL of the controller that holds every lease → every lease renewed by
    the next one (started at once); what a shard survivor does for a dead peer's CRs, minus
    the membership's detection."""
    restart_renewed: int = 0

    def lines(self) -> list[str]:
        seen = "all" if self.acquired >= self.crs else f"ONLY {self.acquired}"
        out = [
            f"cold start: {self.crs} CRs existing, controller started: first lease after"
            f" {self.first_s:.1f} s, {seen} leases acquired after {self.all_s:.1f} s"
        ]
        if self.restart_all_s is not None:
            again = "all" if self.restart_renewed >= self.crs else f"ONLY {self.restart_renewed}"
            out.append(
                f"restart: SIGKILL, then a new controller: {again} leases renewed"
                f" {self.restart_all_s:.1f} s after the kill"
            )
        return out


async def _until_written(
    log: RenewLog, crs: int, *, since: float, deadline: float
) -> tuple[float, float, int]:
    """Wait until ``crs`` slots have a write after ``since`` (epoch s): (first, all, count)."""
    first = all_ = float("nan")
    count = 0
    while time.time() < deadline:
        count = sum(1 for by in log.writes.values() if max(by.values(), default=0) > since)
        if first != first and count >= 1:  # nan: not yet
            first = time.time() - since
        if count >= crs:
            all_ = time.time() - since
            break
        await asyncio.sleep(0.02)
    return first, all_, count


async def cold_start(
    *,
    emulator: Emulator,
    namespace: str,
    command: tuple[list[str], dict[str, str]],
    client: dict[str, Any],
    crs: int,
    observe: Callable[[RenewLog], Any],
    workdir: Path,
    timeout: float = 120.0,
    profile_dir: Path | None = None,
    restart: bool = False,
) -> ColdStart:
    """Create ``crs`` CRs in ``namespace``, then start the operator and time its leases;
    with ``restart``, then SIGKILL it and time a new one renewing every lease."""
    await create_crs(emulator.url, namespace, range(crs), client)
    log = RenewLog()
    observer = asyncio.create_task(observe(log))
    await asyncio.sleep(1.0)  # the observer is subscribed before the first write
    out = (workdir / f"cold-{namespace}.log").open("w")
    argv, env = command
    began = time.time()
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=out, stderr=subprocess.STDOUT
    )
    restart_all: float | None = None
    renewed = 0
    if profile_dir is not None and not restart:
        await _profile(proc.pid, profile_dir / "cold-start.txt", seconds=30)
    try:
        first, all_, _ = await _until_written(log, crs, since=began, deadline=began + timeout)
        if restart and all_ == all_:
            await asyncio.sleep(2.0)  # the start-up's status writes are done
            proc.kill()
            await proc.wait()
            killed = time.time()
            proc = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=out, stderr=subprocess.STDOUT
            )
            if profile_dir is not None:
                await _profile(proc.pid, profile_dir / "restart.txt", seconds=30)
            _, restart_all, renewed = await _until_written(
                log, crs, since=killed, deadline=killed + timeout
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        out.close()
        observer.cancel()
    return ColdStart(
        crs=crs,
        acquired=log.acquired(),
        first_s=first,
        all_s=all_,
        restart_all_s=restart_all,
        restart_renewed=renewed,
    )
