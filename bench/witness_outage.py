"""Reads of a ContinuumActor's state while its witness is blackholed (issue 13, item 5).

One real ContinuumActor on the system clock (renew every 1 s, TTL 6 s, the witness call bound
``READ_TIMEOUT``), with the in-memory witness behind a gate and the project's fakes for the
pair, routes and DNS. A client asks ``StatusRequest`` (what ``GET /v1/continuums/{ns}/{name}``
asks) every 10 ms, first with the witness answering, then with every renew/read hanging (a
blackholed witness: no answer, no error). Prints the ask latency percentiles of both phases
and how many witness calls were pending; asserts nothing.

    PYTHONPATH=. python bench/witness_outage.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import anyio
import structlog

from continuum.clock import SystemClock
from continuum.messages.crd import Continuum
from continuum.messages.requests import StatusRequest
from continuum.witness.memory import MemoryWitness
from tests.continuum_actor.harness import Harness, make_cr
from tests.continuum_actor.test_continuum_actor_witness_outage import HeldWitness


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _phase(ref: object, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        await ref.ask(StatusRequest())  # type: ignore[attr-defined]
        out.append((time.perf_counter() - started) * 1000)
        await anyio.sleep(0.01)
    return out


async def main(seconds: float) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    clock = SystemClock()
    h = Harness(clock=clock)  # type: ignore[arg-type]
    witness = HeldWitness(MemoryWitness(h.store, clock=clock))

    async def open_witness(cr: Continuum) -> HeldWitness:
        return witness

    cr = make_cr(leaseClient={"kind": "in-memory", "config": {"ttlSeconds": 6, "renewSeconds": 1}})
    async with h.actor(cr, witness_for=open_witness) as (ref, actor):
        await anyio.sleep(0.2)
        healthy = await _phase(ref, seconds)
        witness.gate = anyio.Event()  # blackholed from here on
        outage = await _phase(ref, seconds)
        pending, acting = witness.pending, actor.acting()
        witness.gate.set()
    for name, values in (("witness answering", healthy), ("witness blackholed", outage)):
        print(
            f"{name:20s} asks={len(values):5d} p50={statistics.median(values):6.2f} ms "
            f"p99={_pct(values, 0.99):6.2f} ms max={max(values):6.2f} ms"
        )
    print(f"at the end of the outage: witness calls pending={pending} acting={acting}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    anyio.run(main, parser.parse_args().seconds)
