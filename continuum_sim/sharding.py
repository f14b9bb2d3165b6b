"""Test environment: replicas of one region as real ``continuum run`` processes with
``CONTINUUM_SHARDING=true``, against a Kubernetes API emulator and a real nats-server (the
``nats-kv`` witness),
observed from outside only:

* witness writes (a plain subscription on the lease bucket): every renewal of every CR, with
  its generation and renew time (``expiresAt − ttlSeconds``);
* which CRs a replica runs: its ``GET /v1/continuums?scope=replica`` (the replica's
  registry), sampled in rounds, each round after the previous one ended. A CR listed by two
  replicas in one round may be a hand-over seen mid-way (the stop and the start fell between
  the two requests); a CR listed by two replicas in **two consecutive rounds** ran on both at
  once (a hand-over stops the old actor before the new one starts, so the old one cannot show
  up again in the next round, which starts after the new one was listed).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import nats

from continuum.witness.codec import decode_lease
from continuum_sim.process import dies_with_parent

REGION = "region-a"
NAMESPACE = "shard"
API_TOKEN = "shard-token"
BUCKET = "continuum-leases"
MEMBER_TTL, MEMBER_DEADLINE = 6, 4
WITNESS_TTL, WITNESS_RENEW = 15, 2


def cr_body(index: int, nats_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "dr.openova.io/v1",
        "kind": "Continuum",
        "metadata": {"name": f"cr-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "applicationRef": f"app-{index}",
            "primaryRegion": REGION,
            "hotStandbyRegions": ["region-b"],
            "leaseClient": {
                "kind": "nats-kv",
                "config": {
                    "url": nats_url,
                    "bucket": BUCKET,
                    "ttlSeconds": WITNESS_TTL,
                    "renewSeconds": WITNESS_RENEW,
                },
            },
            "switchover": {"mechanism": "stateless"},
        },
    }


class Replica:
    """One ``continuum run`` process; output to ``<workdir>/replica-<name>.log``.

    ``identity``: its shard member identity (default: the product's own, ``<host>_<8 hex>``),
    so a test can tell from the rendezvous hash which CRs a joiner will take before it
    starts. Set by replacing ``make_identity`` in the child process before ``run`` starts
    (nothing else of the product is changed)."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        kubeconfig: Path,
        *,
        extra: dict[str, str] | None = None,
        identity: str = "",
    ) -> None:
        self.name = name
        self.identity = identity
        self.log_path = workdir / f"replica-{name}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
        self.env.update(
            {
                "CONTINUUM_REGION": REGION,
                "CONTINUUM_KUBECONFIG": str(kubeconfig),
                "CONTINUUM_REGION_CONTEXTS": f"{REGION}={REGION},region-b=region-b",
                "CONTINUUM_WATCH_NAMESPACES": NAMESPACE,
                "CONTINUUM_SHARDING": "true",
                "CONTINUUM_LEADER_LEASE_NAMESPACE": NAMESPACE,
                "CONTINUUM_LEADER_LEASE_SECONDS": str(MEMBER_TTL),
                "CONTINUUM_LEADER_RENEW_DEADLINE": str(MEMBER_DEADLINE),
                "CONTINUUM_LEASE_SAFETY_MARGIN_SECONDS": "2",
                "CONTINUUM_API_ADDR": "127.0.0.1:0",
                # Advertised with the bound port: the peers forward API requests here.
                "CONTINUUM_POD_IP": "127.0.0.1",
                "CONTINUUM_API_TOKEN": "shard-token",
                "CONTINUUM_METRICS_ADDR": "",
                "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS": "2",
                "CONTINUUM_LOG_LEVEL": "info",
            }
        )
        self.env.update(extra or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    async def start(self, *, timeout: float = 60.0) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = self._spawn()
        self.port = 0
        with anyio.fail_after(timeout):
            while not self.port:
                if self.proc.poll() is not None:
                    raise AssertionError(f"replica {self.name} exited: {self.tail()}")
                self._read_port(offset)
                await anyio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                dies_with_parent(self._command()),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _command(self) -> list[str]:
        if not self.identity:
            return [sys.executable, "-m", "continuum", "run"]
        script = (
            "import sys\n"
            "import continuum.controller as controller\n"
            "from continuum.cli.entry import main\n"
            "identity = sys.argv[1]\n"
            "controller.make_identity = lambda pod_name=None: identity\n"
            "sys.exit(main(['run']))\n"
        )
        return [sys.executable, "-c", script, self.identity]

    def _read_port(self, offset: int) -> None:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            for line in log.read().decode(errors="replace").splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    record = json.loads(line)
                    if record.get("event") == "controller_listening" and record.get("api"):
                        self.port = int(record["api"].rpartition(":")[2])

    def kill(self) -> None:
        """SIGKILL: nothing stopped, nothing released, its membership Lease stays."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    async def terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        with anyio.move_on_after(20):
            while proc.poll() is None:  # noqa: ASYNC110 (a child process, not an event)
                await anyio.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def running(self, http: httpx.AsyncClient) -> set[str] | None:
        """The CRs it runs (``None``: not answering)."""
        try:
            got = await http.get(
                f"http://127.0.0.1:{self.port}/v1/continuums",
                params={"scope": "replica"},
                headers={"Authorization": "Bearer shard-token", "X-Catalyst-Owner-Tier": "true"},
            )
        except httpx.HTTPError:
            return None
        if got.status_code != 200:
            return None
        return {f"{item['namespace']}/{item['name']}" for item in got.json()}

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Observed:
    """What was seen from outside."""

    writes: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # key → (t, gen)
    rounds: list[dict[str, set[str]]] = field(default_factory=list)  # replica → CRs
    doubles: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    blind: list[tuple[float, float]] = field(default_factory=list)
    """Wall-clock spans in which the observer's NATS connection was down (a slow consumer
    cut off by the server): writes then were not seen, so a gap spanning one is no gap."""

    def saw_throughout(self, start: float, end: float) -> bool:
        """Whether the observer was connected from ``start`` to ``end``."""
        return not any((b < end and a > start) or a <= start < b for a, b in self.blind)

    def owners(self, index: int = -1) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name, keys in self.rounds[index].items():
            for key in keys:
                found.setdefault(key, []).append(name)
        return found

    def first_write_after(self, key: str, moment: float) -> float | None:
        return next((t for t, _ in self.writes.get(key, []) if t > moment), None)

    def longest_gap(self, key: str) -> float:
        times = sorted(t for t, _ in self.writes.get(key, []))
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


@contextlib.asynccontextmanager
async def observing(
    nats_url: str, replicas: dict[str, Replica], *, period: float = 0.2
) -> AsyncIterator[Observed]:
    """Record witness writes and sample every live replica's CRs until the block ends."""
    seen = Observed()
    down: list[float] = []

    async def disconnected() -> None:
        down.append(time.time())

    async def reconnected() -> None:
        seen.blind.append((down.pop() if down else time.time(), time.time()))

    nc = await nats.connect(
        nats_url,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        max_reconnect_attempts=-1,
    )

    async def on_write(msg: Any) -> None:
        if msg.data:
            lease = decode_lease(msg.data)
            if lease.holder and lease.expires_at is not None:
                renewed = lease.expires_at.timestamp() - lease.ttl_seconds
                seen.writes.setdefault(lease.key, []).append((renewed, lease.generation))

    async def sample() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                snapshot: dict[str, set[str]] = {}
                for name, replica in list(replicas.items()):
                    if replica.alive:
                        got = await replica.running(http)
                        if got is not None:
                            snapshot[name] = got
                if seen.rounds:
                    previous = seen.rounds[-1]
                    for key, names in _shared(snapshot).items():
                        if len(set(names) & set(_shared(previous).get(key, ()))) >= 2:
                            seen.doubles.append((key, tuple(sorted(names))))
                seen.rounds.append(snapshot)
                await anyio.sleep(period)

    await nc.subscribe(f"$KV.{BUCKET}.>", cb=on_write)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            try:
                yield seen
            finally:
                tg.cancel_scope.cancel()
    finally:
        await nc.close()


def _shared(snapshot: dict[str, set[str]]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for name, keys in snapshot.items():
        for key in keys:
            by_key.setdefault(key, []).append(name)
    return {k: v for k, v in by_key.items() if len(v) > 1}


async def until(check: Callable[[], object], *, timeout: float, what: str) -> None:
    """Poll ``check()`` (real processes, real time) up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await anyio.sleep(0.1)
