"""Lease renewal benchmark: N renewal loops through the ``nats-kv`` witness against a real
nats-server, on the real clock.

Each loop holds its own slot and renews it every ``--interval`` seconds for ``--seconds``
(schedule-anchored: tick k is due at ``start + k * interval``). Reported: renew latency
p50/p99 (request → answer), renew lateness p50/p99 (tick start − due time), failed renewals,
and CPU % of this process and of nats-server over the run (100 % = one core).

    .venv/bin/python bench/lease.py                # 1,000 loops, 1 s, 60 s
    .venv/bin/python bench/lease.py --loops 100 --seconds 10

Printed, never asserted. Target: lateness p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from continuum.clock import SystemClock
from continuum.errors import WitnessError
from continuum.witness.nats_kv import NatsKvWitness, open_nats_kv
from continuum_sim.nats import NatsServer


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def renew_loop(
    witness: NatsKvWitness,
    index: int,
    *,
    interval: float,
    until: float,
    ttl: float,
    latencies: list[float],
    lateness: list[float],
    failures: list[str],
) -> None:
    lease = await witness.acquire(f"bench/slot-{index}", f"region-{index % 3}", ttl)
    # Spread the loops over one interval, as independently started actors would be.
    start = time.monotonic() + interval * index / 1000.0
    tick = 1
    while True:
        due = start + tick * interval
        if due >= until:
            return
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        began = time.monotonic()
        lateness.append(began - due)
        try:
            lease = await witness.renew(lease)
        except WitnessError as error:
            failures.append(type(error).__name__)
            lease = await witness.acquire(lease.key, lease.holder, ttl)
        latencies.append(time.monotonic() - began)
        tick += 1


async def main(loops: int, seconds: float, interval: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lease-") as workdir:
        async with NatsServer(Path(workdir) / "nats") as server:
            witness = await open_nats_kv(server.url, clock=SystemClock(), timeout=5.0)
            assert server.pid is not None
            nats_proc = psutil.Process(server.pid)
            me = psutil.Process()
            latencies: list[float] = []
            lateness: list[float] = []
            failures: list[str] = []
            cpu_me, cpu_nats = me.cpu_times(), nats_proc.cpu_times()
            wall = time.monotonic()
            until = wall + seconds
            await asyncio.gather(
                *(
                    renew_loop(
                        witness,
                        index,
                        interval=interval,
                        until=until,
                        ttl=max(3 * interval, 5.0),
                        latencies=latencies,
                        lateness=lateness,
                        failures=failures,
                    )
                    for index in range(loops)
                )
            )
            elapsed = time.monotonic() - wall
            used_me = sum(me.cpu_times()[:2]) - sum(cpu_me[:2])
            used_nats = sum(nats_proc.cpu_times()[:2]) - sum(cpu_nats[:2])
            await witness.aclose()
    ms = 1000.0
    print(f"loops={loops} interval={interval}s duration={elapsed:.1f}s renewals={len(latencies)}")
    print(
        f"renew latency  p50={percentile(latencies, 0.5) * ms:.1f}ms"
        f" p99={percentile(latencies, 0.99) * ms:.1f}ms"
        f" mean={statistics.fmean(latencies) * ms if latencies else 0:.1f}ms"
    )
    print(
        f"renew lateness p50={percentile(lateness, 0.5) * ms:.1f}ms"
        f" p99={percentile(lateness, 0.99) * ms:.1f}ms"
        f" max={max(lateness, default=0) * ms:.1f}ms"
    )
    print(f"failed renewals={len(failures)} {sorted(set(failures))}")
    print(
        f"cpu bench={100 * used_me / elapsed:.1f}% nats-server={100 * used_nats / elapsed:.1f}%"
        " (100% = one core)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(main(args.loops, args.seconds, args.interval))
