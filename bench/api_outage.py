"""API latency while a Kubernetes API server hangs: ``GET /v1/continuums/{ns}/{name}`` p50 /
p99 / max over real HTTP, answering vs hanging (issue 13, item 5).

The embedded stack (two emulated regions, real nats-server and pdns_server) with the acting
region's controller in-process, its observation every second (``renewSeconds: 1``, TTL 10 s)
— each observation reads the CNPG pair and the HTTPRoute of both regions and the DNS records.
One client asks for the summary every ``--pace`` seconds, ``--requests`` times per phase:

* ``answering``: no fault;
* ``region-b API hangs``: the emulator of the other region holds every request, never
  answering (each of the controller's reads of it waits out its 5 s bound);
* ``own API hangs (reads)``: the controller's own region's emulator holds every request for
  ``clusters`` and ``httproutes`` (the observation's reads there); status writes still answer.

Each phase starts once the hanging rule has caught the observation's reads, and spans more
than one read bound. Prints the latency percentiles of each phase, the requests not answered
200, and how many requests the hang rule held; asserts nothing.

    python bench/api_outage.py [--requests 200] [--pace 0.03]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from continuum_sim.kube.faults import FaultRule
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import Controllers, controllers

A, B = "region-a", "region-b"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def wait_for(check: Callable[[], bool], *, timeout: float = 60.0) -> None:
    """Poll the servers (not a timer) until ``check`` holds, bounded."""
    with anyio.fail_after(timeout):
        while True:
            if check():
                return
            await anyio.sleep(0.05)


async def phase(
    run: Controllers, stack: SimStack, name: str, rules: list[FaultRule], requests: int, pace: float
) -> None:
    await wait_for(lambda: all(r.hits >= 1 for r in rules))
    held = sum(r.hits for r in rules)
    path = f"/v1/continuums/{stack.spec.namespace}/{stack.spec.name}"
    took: list[float] = []
    refused = 0
    async with run.client(A) as client:
        for _ in range(requests):
            started = time.perf_counter()
            answer = await client.get(path)
            took.append((time.perf_counter() - started) * 1000)
            refused += answer.status_code != 200
            await anyio.sleep(pace)
    held = sum(r.hits for r in rules) - held
    print(
        f"{name:24s} n={len(took):4d}  p50 {pct(took, 50):7.1f} ms  p99 {pct(took, 99):7.1f} ms"
        f"  max {max(took):7.1f} ms  not-200 {refused:3d}  reads held meanwhile {held}"
    )


async def main(requests: int, pace: float) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.getLogger().setLevel(logging.CRITICAL)
    spec = StackSpec(drain_seconds=0, ttl_seconds=10, renew_seconds=1)
    with tempfile.TemporaryDirectory(prefix="bench-api-outage-") as tmp:
        async with SimStack(Path(tmp), spec=spec) as stack, controllers(stack, (A,)) as run:
            await wait_for(lambda: stack.continuum_status(A).get("phase") == "Healthy")
            print(f"GET /v1/continuums/{{ns}}/{{name}} of {A}'s instance, one every {pace:g} s")
            await phase(run, stack, "answering", [], requests, pace)
            for name, emulator, rules in (
                ("region-b API hangs", stack.emulators[B], [{}]),
                (
                    "own API hangs (reads)",
                    stack.emulators[A],
                    [{"resource": "clusters"}, {"resource": "httproutes"}],
                ),
            ):
                added = [emulator.faults.hang(count=None, **match) for match in rules]  # type: ignore[arg-type]
                try:
                    await phase(run, stack, name, added, requests, pace)
                finally:
                    emulator.faults.clear()
                await wait_for(lambda: stack.continuum_status(A).get("phase") == "Healthy")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.03)
    args = parser.parse_args()
    anyio.run(main, args.requests, args.pace)
