"""Actor runtime benchmark: memory per idle actor and ask round-trip latency.

Spawns N idle actors under one Supervisor on the real clock, reports RSS growth per actor
(psutil, before/after, after a GC), then times M sequential asks spread over the actors and
reports p50/p99/max. Prints figures; asserts nothing. Targets: < 16 KiB per idle actor,
ask p99 < 1 ms.

    python bench/actors.py [--actors 10000] [--asks 20000] [--backend asyncio|trio] [--gc-freeze]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import anyio
import msgspec
import psutil  # type: ignore[import-untyped]
import sniffio

from continuum.actors.runtime import Actor
from continuum.clock import SystemClock
from continuum.logs import configure_logging
from continuum.supervisor import Supervisor


class Ping(msgspec.Struct, frozen=True):
    n: int


class Idle(Actor):
    async def on_message(self, message: msgspec.Struct) -> object:
        assert isinstance(message, Ping)
        return message.n


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


class GcPauses:
    """Collects the duration of every garbage collection while installed."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.full = 0
        self._started = 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.durations.append(time.perf_counter() - self._started)
            self.full += info["generation"] == 2

    @property
    def max_ms(self) -> float:
        return max(self.durations, default=0.0) * 1e3


def percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


async def bench(actors: int, asks: int, freeze: bool) -> None:
    clock = SystemClock()
    async with Supervisor(clock=clock) as sup:
        await sup.spawn("warm/up", Idle)  # import and first-use costs out of the measure
        await anyio.sleep(0.05)
        before = rss()
        started = time.perf_counter()
        refs = [await sup.spawn(f"bench/actor-{i}", Idle) for i in range(actors)]
        await anyio.sleep(0.2)  # let every actor reach its idle receive
        spawn_s = time.perf_counter() - started
        after = rss()
        per_actor = (after - before) / actors
        print(f"backend            {anyio_backend_name()}")
        print(f"actors             {actors}")
        print(f"spawn              {spawn_s:.2f} s ({spawn_s / actors * 1e6:.0f} us/actor)")
        print(f"rss before/after   {before / 2**20:.1f} MiB / {after / 2**20:.1f} MiB")
        print(f"rss per idle actor {per_actor / 1024:.2f} KiB  (target < 16 KiB)")

        if freeze:
            gc.freeze()  # long-lived actors out of the collector's way, as a service may do
        latencies: list[float] = []
        pauses = GcPauses()
        gc.callbacks.append(pauses.callback)
        for i in range(asks):
            ref = refs[i % actors]
            t0 = time.perf_counter()
            await ref.ask(Ping(i))
            latencies.append(time.perf_counter() - t0)
        gc.callbacks.remove(pauses.callback)
        latencies.sort()
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        print(f"asks               {asks}")
        print(f"ask p50            {p50 * 1e6:.0f} us")
        print(f"ask p99            {p99 * 1e6:.0f} us  (target < 1000 us)")
        print(f"ask max            {latencies[-1] * 1e6:.0f} us")
        print(f"ask throughput     {asks / sum(latencies):.0f} asks/s (sequential)")
        collections = f"{len(pauses.durations)} collections ({pauses.full} full)"
        print(f"gc during asks     {collections}, max {pauses.max_ms:.1f} ms")
        started = time.perf_counter()
    print(f"shutdown           {time.perf_counter() - started:.2f} s")


def anyio_backend_name() -> str:
    return str(sniffio.current_async_library())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--asks", type=int, default=20_000)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after spawning")
    args = parser.parse_args()
    configure_logging(level="warning")
    anyio.run(bench, args.actors, args.asks, args.gc_freeze, backend=args.backend)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
