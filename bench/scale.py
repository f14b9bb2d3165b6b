"""Scale benchmark: N Continuum CRs renewing their leases under `continuum run`, real clock.

The Kubernetes API emulator runs as its own process (``continuum sim kube``), and so does the
controller (``continuum run``: leader election, API and metrics off, logs at ``warning`` to a
file), so each process's CPU and memory are measured apart (psutil, sampled every second).

Method (no product change, nothing read from inside the controller):

1. One CR is created and the controller started; once that CR's lease is acquired the
   controller's RSS is the *baseline*. The other N−1 CRs are then created over HTTP
   (32 concurrent clients) and reach the controller through its watch.
2. Every lease write is observed from outside. ``--witness nats-kv``: a plain NATS
   subscription on the bucket's subject sees every write (``expiresAt − ttlSeconds`` = the
   renew time, ``generation`` = acquire + renewals). ``--witness in-memory``: the witness
   lives inside the controller, so the bench watches the CRs' status instead — which carries
   the lease only as of its last change of holder: acquisitions are seen, renewals are not
   (use ``nats-kv`` for lateness). Every write to the CRs (a ``MODIFIED`` watch event) inside
   the window is counted too: API writes per CR per 5 min at steady state.
3. Renewal *k* of a CR (generation 1 + k) is due at ``anchor + k·interval`` (the actor's
   repeating timer is schedule-anchored); the anchor is the CR's least-delayed renewal
   (min over k of ``renew_time − k·interval``). Lateness = ``renew_time − due``: how much later
   than its own best tick each renewal happened (a lower bound: the constant sub-millisecond
   idle path of the best tick is not counted).
4. The measured window starts once every lease is acquired (plus one interval) and the
   start-up's writes to the CRs (finalizers, first statuses) have paused for one interval
   (at most ``3·interval + N/200`` s: an operator that never stops writing is measured
   anyway), so the start-up burst is over; it lasts ``--seconds``. Reported: renew lateness
   p50/p99/max of the renewals inside it, controller and emulator CPU % (100 % = one core),
   controller RSS and (RSS − baseline)/(N−1) per CR, time until all leases were acquired and
   until the writes paused, renewals seen vs due.

    .venv/bin/python bench/scale.py                          # 10,000 CRs, in-memory, 120 s
    .venv/bin/python bench/scale.py --crs 1000 --witness nats-kv
    .venv/bin/python bench/scale.py --crs 500 --seconds 20   # a quick look

Printed, never asserted. ``bench/kopf_peer.py`` reuses this module to run a kopf operator
through the same measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from _harness import (
    Emulator,
    RenewLog,
    cold_start,
    continuum_command,
    lease_client,
    measure,
    watch_bucket,
    watch_status,
)

from continuum_sim.nats import NatsServer


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        emulator = Emulator.start(workdir)
        nats_server = NatsServer(workdir / "nats")
        try:
            if args.witness == "nats-kv":
                await nats_server.start()
            url = nats_server.url if args.witness == "nats-kv" else ""
            client = lease_client(args.witness, url, ttl=args.ttl, renew=args.interval)

            def observe(log: RenewLog, namespace: str = "scale") -> Any:
                if args.witness == "nats-kv":
                    return watch_bucket(url, log, namespace=namespace)
                return watch_status(emulator.url, namespace, log, ttl=args.ttl)

            cold = None
            if args.cold:
                cold = await cold_start(
                    emulator=emulator,
                    namespace="cold",
                    command=continuum_command(
                        emulator.kubeconfig, "cold", log_level=args.log_level
                    ),
                    client=client,
                    crs=args.crs,
                    observe=lambda log: observe(log, "cold"),
                    workdir=workdir,
                    profile_dir=args.profile,
                    restart=args.restart,
                )
                print("\n".join(cold.lines()), flush=True)
                if args.restart:
                    return

            result = await measure(
                f"continuum ({args.witness})",
                emulator=emulator,
                namespace="scale",
                command=continuum_command(
                    emulator.kubeconfig,
                    "scale",
                    log_level=args.log_level,
                    trust_env=not args.no_trust_env,
                    snapshot=args.tracemalloc,
                ),
                client=client,
                crs=args.crs,
                seconds=args.seconds,
                observe=observe,
                workdir=workdir,
                profile_dir=args.profile,
                snapshot=args.tracemalloc,
            )
        finally:
            await nats_server.stop()
            emulator.stop()
    print("\n".join(result.lines()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crs", type=int, default=10_000)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="first time a controller started over CRs that already exist (namespace cold)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="with --cold: SIGKILL the controller, start another, time every lease renewed; "
        "then stop (no window)",
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="measured window")
    parser.add_argument("--witness", choices=["in-memory", "nats-kv"], default="in-memory")
    parser.add_argument("--interval", type=int, default=10, help="renewSeconds of every CR")
    parser.add_argument("--ttl", type=int, default=30, help="ttlSeconds of every CR")
    parser.add_argument("--log-level", default="warning", help="the controller's log level")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the window into DIR (collapsed; samples/s from BENCH_PYSPY_RATE, default 50)",
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="FILE",
        help="trace the controller's allocations; live memory by file at the window's end",
    )
    parser.add_argument(
        "--no-trust-env",
        action="store_true",
        help="what-if: kubernetes-asyncio's HTTP session without trust_env (not the product)",
    )
    asyncio.run(main(parser.parse_args()))
