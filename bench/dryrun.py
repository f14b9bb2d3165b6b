"""DryRun and PostSwitchoverHealth benchmark on the embedded stack (two emulated regions with
the CNPG operator emulation, real nats-server, real pdns_server), with region A's real
controller instance in-process; requests go to its ContinuumActor through ``ask``, as the
HTTP handlers send them (``bench/api.py`` measures the HTTP layer).

* uncached DryRun: each request has its own ``reason`` (a new plan, so no cache entry): the
  witness read (NATS KV), both Clusters and the HTTPRoute (emulated API over HTTP), the LUA
  synthesis and the seven precondition functions;
* cached DryRun: the same request again within the cache window;
* one health run (``HealthRequest(fresh=True)``) after a switchover A→B run by the same
  actor: 2 hostnames × 3 vantages — the stack's pdns on 127.0.0.1 and a second pdns_server
  serving the same (mirrored) zone on 127.0.0.2 and 127.0.0.3 — a new resolver per probe,
  plus the Cluster check and the audit check (a JetStream read).

Targets: uncached DryRun p99 under 20 ms, cached under 1 ms. Prints figures; asserts nothing.

    python bench/dryrun.py [--uncached 300] [--cached 2000]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import continuum.controller as controller_module
from continuum.actors.handles import ActorRef
from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import SystemClock
from continuum.controller import run_controller
from continuum.http.readiness import Readiness
from continuum.messages.requests import (
    DryRunRequest,
    HealthRequest,
    StatusRequest,
    SwitchoverRequest,
)
from continuum.messages.switchover import DryRunReport, HealthReport
from continuum.metrics import watch_actors as metrics_watch_actors
from continuum.supervisor.registry import Registry
from continuum.switchover.dnsverify import verify_answer
from continuum.switchover.lua import synthesize
from continuum_sim.pdns import PdnsServer
from continuum_sim.stack import SimStack, StackSpec

A = "region-a"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(label: str, values: list[float]) -> str:
    return (
        f"{label:18s} n={len(values):5d}  p50 {pct(values, 50) * 1e3:7.3f} ms  "
        f"p99 {pct(values, 99) * 1e3:7.3f} ms  mean {statistics.fmean(values) * 1e3:7.3f} ms  "
        f"max {max(values) * 1e3:7.3f} ms"
    )


async def second_pdns(stack: SimStack, workdir: Path) -> PdnsServer:
    """Another pdns_server on 127.0.0.2 and 127.0.0.3 serving the stack's zone."""
    pdns = PdnsServer(workdir, addresses=("127.0.0.2", "127.0.0.3"))
    await pdns.start()
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone(stack.spec.zone)
    return pdns


async def mirror(stack: SimStack, pdns: PdnsServer, primary: str) -> None:
    """Write the records making ``primary`` the writer to ``pdns`` and wait until its answers
    are stable (``ifurlup`` answers arbitrarily before its first health checks)."""
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.commit(stack.spec.zone, synthesize(stack.lua_params(primary)))
    with anyio.fail_after(20):
        while True:
            result = await verify_answer(
                AiodnsResolver(),
                hostnames=stack.spec.hostnames,
                vantages=pdns.nameservers,
                expected_ips=stack.spec.ips[primary],
                timeout=0.5,
                clock=SystemClock(),
            )
            if result.ok:
                return
            await anyio.sleep(0.1)


async def main(uncached_n: int, cached_n: int) -> None:
    structlog.configure(processors=[_drop], cache_logger_on_first_use=False)
    logging.getLogger().setLevel(logging.ERROR)
    registries: list[Registry] = []
    original = metrics_watch_actors

    def capture(snapshot: Any) -> None:  # the supervisor's registry, for ``ask``
        registries.append(snapshot.__self__)
        original(snapshot)

    controller_module.watch_actors = capture  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory(prefix="bench-dryrun-") as tmp:
        async with SimStack(Path(tmp), spec=StackSpec(drain_seconds=0)) as stack:
            extra = await second_pdns(stack, Path(tmp))
            try:
                vantages = [*stack.pdns.nameservers, *extra.nameservers]
                settings = stack.settings(
                    A, extra={"CONTINUUM_HEALTH_VANTAGES": ",".join(vantages)}
                )
                ready = anyio.Event()

                async def on_ready(_: Readiness) -> None:
                    ready.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(
                        lambda: run_controller(settings, clock=SystemClock(), on_ready=on_ready)
                    )
                    await ready.wait()
                    ref = await _actor(registries, stack.key)
                    await measure(
                        ref,
                        uncached_n=uncached_n,
                        cached_n=cached_n,
                        stack=stack,
                        extra_pdns=extra,
                    )
                    tg.cancel_scope.cancel()
            finally:
                await extra.stop()


def _drop(_logger: Any, _name: str, _event: Any) -> Any:
    raise structlog.DropEvent


async def _actor(registries: list[Registry], key: str) -> ActorRef:
    with anyio.fail_after(30):
        while True:
            ref = registries[-1].get(key) if registries else None
            if ref is not None:
                summary = await ref.ask(StatusRequest(), timeout=5)
                if summary.acting:
                    return ref
            await anyio.sleep(0.05)


async def measure(
    ref: ActorRef,
    *,
    uncached_n: int,
    cached_n: int,
    stack: SimStack,
    extra_pdns: PdnsServer,
) -> None:
    target = stack.spec.regions[1]
    for i in range(20):  # warm-up: connections, caches of the clients
        await ref.ask(DryRunRequest(toRegion=target, reason=f"warm-{i}"), timeout=10)

    uncached: list[float] = []
    for i in range(uncached_n):
        t0 = time.perf_counter()
        report = await ref.ask(DryRunRequest(toRegion=target, reason=f"bench-{i}"), timeout=10)
        uncached.append(time.perf_counter() - t0)
        assert isinstance(report, DryRunReport)
        assert not report.blockers, report.blockers

    cached: list[float] = []
    request = DryRunRequest(toRegion=target, reason="cached")
    first = await ref.ask(request, timeout=10)
    for _ in range(cached_n):
        t0 = time.perf_counter()
        again = await ref.ask(request, timeout=10)
        cached.append(time.perf_counter() - t0)
        assert again is first  # served from the cache, not recomputed

    # a switchover A→B (the health run checks what it did), mirrored to the second pdns
    report = await ref.ask(DryRunRequest(toRegion=target), timeout=10)
    accepted = await ref.ask(
        SwitchoverRequest(toRegion=target, fingerprint=report.planFingerprint), timeout=10
    )
    with anyio.fail_after(30):
        while True:
            last = (await ref.ask(StatusRequest(), timeout=5)).lastSwitchover
            if last is not None and last.id == accepted.id:
                break
            await anyio.sleep(0.05)
    await mirror(stack, extra_pdns, target)

    t0 = time.perf_counter()
    health = await ref.ask(HealthRequest(fresh=True), timeout=60)
    health_seconds = time.perf_counter() - t0
    assert isinstance(health, HealthReport)

    print("DryRun through ask (ContinuumActor of region A, real servers):")
    print(line("uncached", uncached))
    print(line("cached", cached))
    hostnames = len(stack.spec.hostnames)
    vantages = [*stack.pdns.nameservers, *extra_pdns.nameservers]
    print(
        f"health run after switchover {last.result}: {health_seconds * 1e3:.1f} ms, "
        f"verdict {health.verdict} "
        f"({hostnames} hostnames × {len(vantages)} vantages: {', '.join(vantages)})"
    )
    for check in health.checks:
        probes = f", {len(check.probes)} probes" if check.probes else ""
        print(
            f"  {check.name:18s} {check.status:7s} {check.durationSeconds * 1e3:7.1f} ms"
            f"{' (deferred)' if check.deferred else ''}{probes}"
        )
        if check.status != "pass" and check.detail:
            print(f"    {check.detail[:300]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uncached", type=int, default=300)
    parser.add_argument("--cached", type=int, default=2000)
    args = parser.parse_args()
    anyio.run(main, args.uncached, args.cached)
