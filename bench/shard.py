"""Sharding benchmark: N Continuum CRs over P ``continuum run`` processes of one region.

The Kubernetes API emulator runs as its own process (``continuum sim kube``), the witness is a
real nats-server (``nats-kv``), and every replica is a ``continuum run`` with
``CONTINUUM_SHARDING=true`` (membership Lease 15 s, renew deadline 10 s: the defaults).
Everything is observed from outside (``continuum_sim/sharding.py``): every witness write
through a plain NATS subscription, and which CRs each replica runs through its
``GET /v1/continuums?scope=replica``, sampled in rounds.

Reported (printed, never asserted):

1. time until the CRs are split over the P replicas (every CR on exactly one);
2. over a measured window: the gap between consecutive witness writes of each CR (on time =
   ≤ ``renewSeconds`` + 1 s; lapsed = past the TTL), p50/p99/max, and the same counts for
   the start-up before the split (every CR new: its first writes on a busy API server);
3. a replica SIGKILLed: the time from the kill to the first witness write of each of its CRs
   on a survivor (max), and until the survivors listed every CR again;
4. a fifth replica (P+1) joining: how many CRs changed replica (all must go to the joiner);
5. double-handled samples: a CR listed by two replicas in two consecutive rounds (never a
   hand-over, see ``continuum_sim/sharding.py``); and the load average.

    PYTHONPATH=. .venv/bin/python bench/shard.py --crs 2000 --procs 4
    PYTHONPATH=. .venv/bin/python bench/shard.py --crs 20000 --procs 4 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from _harness import Emulator, _profile, create_crs, lease_client, pct

from continuum_sim.nats import NatsServer
from continuum_sim.sharding import Observed, Replica, observing, until

NAMESPACE = "shard"
PROBE = Path(__file__).resolve().parent / "probe"


def partitioned(seen: Observed, names: set[str], crs: int) -> bool:
    if not seen.rounds or set(seen.rounds[-1]) != names or not all(seen.rounds[-1].values()):
        return False
    owners = seen.owners()
    return len(owners) == crs and all(len(w) == 1 for w in owners.values())


def _gaps(seen: Observed) -> Iterator[tuple[str, float, float]]:
    """Every gap between consecutive witness writes of a CR, as (key, from, to), left out
    when the observer was disconnected during it (it may have missed writes)."""
    for key, writes in seen.writes.items():
        for (a, _), (b, _) in itertools.pairwise(writes):
            if seen.saw_throughout(a, b):
                yield key, a, b


def gaps_between(seen: Observed, start: float, end: float) -> list[float]:
    """The gaps between consecutive witness writes of each CR that ended in
    ``[start, end)``, sorted."""
    return sorted(b - a for _, a, b in _gaps(seen) if start <= b < end)


def lapsed_gaps(seen: Observed, ttl: float, *, before: float) -> list[dict[str, object]]:
    """Every gap longer than ``ttl`` between two witness writes of a CR that ended before
    ``before`` (to match against the replicas' logs)."""
    return [
        {"key": key, "from": a, "to": b, "gap": round(b - a, 2)}
        for key, a, b in _gaps(seen)
        if b < before and b - a > ttl
    ]


def cpu(emulator: Emulator, replicas: dict[str, Replica]) -> dict[str, float]:
    """User + system CPU seconds each process used so far (emulator and live replicas)."""
    procs = {"emulator": emulator.proc.pid}
    procs.update({n: r.proc.pid for n, r in replicas.items() if r.proc and r.proc.poll() is None})
    used: dict[str, float] = {}
    for name, pid in procs.items():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            used[name] = round(times.user + times.system, 1)
    return used


async def main(args: argparse.Namespace) -> None:
    def say(line: str) -> None:
        """Print a figure as soon as it is known (a run stopped by its bound keeps them)."""
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        workdir = Path(args.workdir or tmp)
        os.makedirs(workdir, exist_ok=True)
        if args.probe:  # bench/probe/sitecustomize.py in every child process
            os.environ["BENCH_PROBE_DIR"] = str(workdir)
            probe = str(PROBE)
            os.environ["PYTHONPATH"] = os.pathsep.join(
                x for x in (probe, os.environ.get("PYTHONPATH", "")) if x
            )
        emulator = Emulator.start(workdir)
        nats_server = NatsServer(workdir / "nats")
        replicas: dict[str, Replica] = {}
        try:
            await nats_server.start()
            client = lease_client("nats-kv", nats_server.url, ttl=args.ttl, renew=args.interval)
            await create_crs(emulator.url, NAMESPACE, range(args.crs), client)
            extra = {
                # The emulator's one context serves both names; the stateless CRs never
                # call their standby region.
                "CONTINUUM_REGION_CONTEXTS": "region-a=emulator,region-b=emulator",
                "CONTINUUM_WITNESS_IN_MEMORY": "false",
                "CONTINUUM_LEADER_LEASE_SECONDS": "15",
                "CONTINUUM_LEADER_RENEW_DEADLINE": "10",
                "CONTINUUM_LEASE_SAFETY_MARGIN_SECONDS": "5",
                "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS": "5",
                "CONTINUUM_LOG_LEVEL": "info",  # the replica logs its API port at info
            }
            names = [f"p{i}" for i in range(1, args.procs + 1)]
            for name in names:
                replicas[name] = Replica(name, workdir, emulator.kubeconfig, extra=extra)
            async with observing(nats_server.url, replicas, period=args.sample) as seen:
                t0 = time.monotonic()
                for replica in replicas.values():
                    await replica.start()
                await until(
                    lambda: partitioned(seen, set(names), args.crs), timeout=600, what="split"
                )
                split = time.monotonic() - t0
                counts = {n: len(k) for n, k in seen.rounds[-1].items()}
                say(f"split over {args.procs}: {split:.1f} s, CRs per replica {counts}")

                say(f"CPU seconds at the split: {cpu(emulator, replicas)}")
                split_at = time.time()
                early = gaps_between(seen, 0.0, split_at)
                say(
                    f"before the split: {len(early)} renewals, late (> +1 s): "
                    f"{sum(1 for g in early if g > args.interval + 1.0)}, lapsed (> TTL "
                    f"{args.ttl} s): {sum(1 for g in early if g > args.ttl)}, max gap "
                    f"{early[-1] if early else 0:.2f} s"
                )
                lapses = lapsed_gaps(seen, args.ttl, before=split_at)
                if args.workdir:
                    (workdir / "lapsed.jsonl").write_text(
                        "".join(json.dumps(lapse) + "\n" for lapse in lapses)
                    )
                if args.split_only:
                    return
                start = time.time()
                await asyncio.sleep(args.seconds)
                end = time.time()
                gaps = gaps_between(seen, start, end)
                late = sum(1 for g in gaps if g > args.interval + 1.0)
                lapsed = sum(1 for g in gaps if g > args.ttl)
                if gaps:
                    say(
                        f"window {args.seconds:g} s: {len(gaps)} renewals, gap p50 "
                        f"{pct(gaps, 0.5):.2f} s p99 {pct(gaps, 0.99):.2f} s max {gaps[-1]:.2f} s "
                        f"(renewSeconds {args.interval}); late (> +1 s): {late}; lapsed (> TTL): "
                        f"{lapsed}"
                    )
                say(f"load average during the window: {os.getloadavg()}")
                say(f"CPU seconds after the window: {cpu(emulator, replicas)}")

                victim = names[1]
                orphaned = set(seen.rounds[-1][victim])
                killed = time.time()
                kill_mono = time.monotonic()
                replicas[victim].kill()
                watched = replicas[names[0]].proc
                if args.profile and watched is not None:  # one survivor, from the kill on
                    await _profile(watched.pid, args.profile / "takeover.txt", seconds=40)
                survivors = set(names) - {victim}
                await until(
                    lambda: partitioned(seen, survivors, args.crs), timeout=600, what="takeover"
                )
                listed = time.monotonic() - kill_mono
                await until(
                    lambda: all(seen.first_write_after(k, killed) for k in orphaned),
                    timeout=600,
                    what="orphans renewing",
                )
                renewing = max((seen.first_write_after(k, killed) or 0) - killed for k in orphaned)
                say(
                    f"SIGKILL {victim} ({len(orphaned)} CRs): renewing again on survivors "
                    f"after ≤ {renewing:.1f} s, listed by survivors after {listed:.1f} s "
                    f"(membership TTL 15 s, witness TTL {args.ttl} s)"
                )

                say(f"CPU seconds after the takeover: {cpu(emulator, replicas)}")
                if args.takeover_only:
                    return
                # Back to P replicas, then one more joins.
                replicas[victim] = Replica(victim, workdir, emulator.kubeconfig, extra=extra)
                await replicas[victim].start()
                await until(
                    lambda: partitioned(seen, set(names), args.crs), timeout=600, what="rejoin"
                )
                before = seen.owners()
                joiner = f"p{args.procs + 1}"
                replicas[joiner] = Replica(joiner, workdir, emulator.kubeconfig, extra=extra)
                joined = time.time()
                await replicas[joiner].start()
                await until(
                    lambda: partitioned(seen, {*names, joiner}, args.crs), timeout=600, what="join"
                )
                after = seen.owners()
                moved = [k for k in after if before.get(k) != after[k]]
                to_joiner = sum(1 for k in moved if after[k] == [joiner])
                say(
                    f"{joiner} joins: {len(moved)} of {args.crs} CRs moved "
                    f"({100 * len(moved) / args.crs:.1f} %), {to_joiner} of them to {joiner}"
                )
                await asyncio.sleep(args.ttl)  # a moved lease's next write lands by then
                for what, since in (("the join", joined), ("the kill, rejoin and join", end)):
                    after = gaps_between(seen, since, time.time())
                    say(
                        f"renewals since {what}: {len(after)}, late (> +1 s): "
                        f"{sum(1 for g in after if g > args.interval + 1.0)}, lapsed (> TTL): "
                        f"{sum(1 for g in after if g > args.ttl)}, max gap "
                        f"{after[-1] if after else 0:.2f} s"
                    )
                say(f"double-handled samples: {len(seen.doubles)} in {len(seen.rounds)} rounds")
                if seen.blind:
                    spans = ", ".join(f"{b - a:.1f} s" for a, b in seen.blind)
                    say(
                        f"observer disconnected {len(seen.blind)} times ({spans}): gaps "
                        "spanning those are not counted"
                    )
                say(f"load average at the end: {os.getloadavg()}")
                say(f"CPU seconds at the end: {cpu(emulator, replicas)}")
        finally:
            for replica in replicas.values():
                replica.kill()
            await nats_server.stop()
            emulator.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crs", type=int, default=20_000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window")
    parser.add_argument("--interval", type=int, default=10, help="renewSeconds of every CR")
    parser.add_argument("--ttl", type=int, default=30, help="ttlSeconds of every CR")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="load bench/probe/sitecustomize.py in every child (loop lag, GC, request times)",
    )
    parser.add_argument(
        "--takeover-only", action="store_true", help="stop after the SIGKILL takeover"
    )
    parser.add_argument(
        "--split-only", action="store_true", help="stop after the figures of the split"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the first survivor for 40 s from the SIGKILL on (DIR/takeover.txt)",
    )
    parser.add_argument(
        "--workdir", default="", help="keep the logs here (default: a temporary directory)"
    )
    asyncio.run(main(parser.parse_args()))
