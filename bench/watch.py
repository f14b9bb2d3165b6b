"""Benchmark: 1,000 Continuum CRs in the Kubernetes API emulator → 1,000 running actors.

Two scenarios, each on a fresh emulator, a real clock and one Supervisor:

* ``cold``: the CRs exist before the controller starts; time from starting the watch until
  every actor is running (the list path);
* ``live``: the watch is synced on an empty namespace; the CRs are then created over HTTP
  (32 concurrent clients); time from the first create until every actor is running (the
  watch-event path).

Prints time-to-all-spawned and the process RSS (psutil). Not asserted, not run in CI.
Target: all spawned within 10 s on 2 cores.

    .venv/bin/python bench/watch.py [--count 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import msgspec
import psutil  # type: ignore[import-untyped]
import yaml

from continuum.actors.runtime import Actor
from continuum.adapters.continuums import ContinuumApi
from continuum.adapters.kube import KubeClients
from continuum.clock import SystemClock
from continuum.logs import configure_logging
from continuum.messages.crd import Continuum
from continuum.supervisor.supervisor import Supervisor
from continuum.supervisor.watch import ContinuumWatch
from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig

ROOT = Path(__file__).resolve().parents[1]
PATH = "/apis/dr.openova.io/v1/namespaces/bench/continuums"


class Idle(Actor):
    """A trivial actor: exists, handles nothing."""

    def __init__(self, cr: Continuum) -> None:
        self.key = cr.key

    async def on_message(self, message: msgspec.Struct) -> object:
        return None


def _body(index: int) -> dict[str, Any]:
    body = yaml.safe_load((ROOT / "tests" / "fixtures" / "continuum-minimal.yaml").read_text())
    body["metadata"] = {"name": f"cr-{index:05d}", "namespace": "bench"}
    assert isinstance(body, dict)
    return body


def _rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


async def _create_over_http(url: str, count: int, *, concurrency: int = 32) -> None:
    queue = list(range(count))
    async with aiohttp.ClientSession(url) as http:

        async def worker() -> None:
            while queue:
                index = queue.pop()
                async with http.post(PATH, json=_body(index)) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)


async def _scenario(name: str, count: int, tmp: Path) -> None:
    clock = SystemClock()
    async with KubeEmulator(region="bench", crd_paths=bundled_crd_paths()) as kube:
        kube.ensure_namespace("bench")
        if name == "cold":
            for index in range(count):
                kube.apply(_body(index))
        path = write_kubeconfig(tmp / f"kubeconfig-{name}", {"bench": kube})
        rss_before = _rss_mib()
        async with await KubeClients.from_kubeconfig(str(path), {"bench": "bench"}) as clients:
            api = ContinuumApi(clients.for_region("bench"), clock=clock)
            async with Supervisor(clock=clock) as sup, anyio.create_task_group() as tg:
                watch = ContinuumWatch(api, sup, Idle, clock=clock, namespaces=["bench"])
                start = time.perf_counter()
                tg.start_soon(watch.run)
                await watch.wait_synced()
                if name == "live":
                    start = time.perf_counter()
                    tg.start_soon(_create_over_http, kube.url, count)
                while len(sup.registry) < count:  # noqa: ASYNC110 - sampling progress
                    await anyio.sleep(0.005)
                elapsed = time.perf_counter() - start
                rss_after = _rss_mib()
                running = sum(1 for s in sup.registry.snapshot().values() if s.alive)
                print(
                    f"{name:>5}: {running} actors running in {elapsed:6.2f} s "
                    f"({count / elapsed:7.0f} CR/s); RSS {rss_before:6.1f} → {rss_after:6.1f} MiB "
                    f"(+{rss_after - rss_before:5.1f}); watch lists={watch.stats.lists} "
                    f"events={watch.stats.events}"
                )
                tg.cancel_scope.cancel()


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("cold", "live"):
            await _scenario(name, count, Path(tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    configure_logging(level="warning", fmt="console")
    asyncio.run(main(args.count))
