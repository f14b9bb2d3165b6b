"""Deterministic simulation, long mode: N seeded schedules of crashes, faults, partitions and
operator requests against two regions' ContinuumActors and an in-memory world.

Prints schedules/s, events simulated, kills injected, switchovers confirmed and violations by
kind (with the first seeds of each). One seed replays exactly; ``--shrink`` reduces a failing
seed's schedule to a short one and prints it.

    PYTHONPATH=. python bench/simulate.py --schedules 100000 [--start 0] [--length 40] [--jobs 2]
    PYTHONPATH=. python bench/simulate.py --schedules 300 --deletions   # a deletion mid-run first
    PYTHONPATH=. python bench/simulate.py --seed 1234 [--deletions] [--shrink] [--verbose]
    PYTHONPATH=. python bench/simulate.py --replay '<schedule JSON>'

The model, the invariants and the reproduction steps: ``docs/architecture.md`` ("Core and
shell; the simulator") and ``tests/simulation/simulator.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.simulation.schedule import (
    Action,
    Delete,
    decode,
    encode,
    generate,
    generate_with_deletion,
)
from tests.simulation.shrink import shrink
from tests.simulation.simulator import Outcome, quiet_logs, run_sync

KNOWN: dict[str, str] = {}
"""Violation kinds still expected (kind → why). Empty: every violation is a finding (exit 1)."""


def _print_outcome(label: str, out: Outcome, schedule: list[Action]) -> None:
    print(
        f"{label}: {len(schedule)} actions, {out.events} events, {out.kills} kills, "
        f"{out.switchovers} switchovers confirmed"
    )
    for r in out.results:
        print(
            f"  run {r.id}: {r.from_region} -> {r.to_region} ok={r.ok} "
            f"rolled_back={r.rolled_back} failed={r.failed_step} "
            f"compensated={[s.value for s in r.compensated]} "
            f"failures={sorted(r.compensation_failures)}"
        )
    for v in out.violations:
        print(f"  VIOLATION {v.kind} at t={v.at:g}: {v.detail}")


def _one(seed: int, length: int, *, deletions: bool, do_shrink: bool, verbose: bool) -> int:
    schedule = (generate_with_deletion if deletions else generate)(seed, length)
    with quiet_logs():
        out = run_sync(schedule)
    _print_outcome(f"seed {seed}", out, schedule)
    if verbose:
        print(encode(schedule))
    if do_shrink and out.violations:
        kind = out.violations[0].kind

        def fails(candidate: list[Action]) -> bool:
            with quiet_logs():
                return kind in run_sync(candidate).kinds()

        small = shrink(schedule, fails)
        print(f"shrunk to {len(small)} actions (still {kind}):")
        print(encode(small))
        print(f"replay: PYTHONPATH=. python bench/simulate.py --replay '{encode(small)}'")
    return 1 if out.violations else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--length", type=int, default=40, help="actions per schedule")
    parser.add_argument(
        "--deletions",
        action="store_true",
        help="start each schedule with a switchover A->B and a CR deletion while it runs",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes (seeds split by seed modulo jobs; the figures are summed)",
    )
    parser.add_argument("--seed", type=int, help="run this seed alone and print what happened")
    parser.add_argument("--replay", help="run this schedule (JSON) alone")
    parser.add_argument("--shrink", action="store_true", help="with --seed: shrink a failure")
    parser.add_argument("--verbose", action="store_true", help="with --seed: print the schedule")
    args = parser.parse_args()
    if args.replay:
        schedule = decode(args.replay)
        with quiet_logs():
            out = run_sync(schedule)
        _print_outcome("replay", out, schedule)
        return 1 if out.violations else 0
    if args.seed is not None:
        return _one(
            args.seed,
            args.length,
            deletions=args.deletions,
            do_shrink=args.shrink,
            verbose=args.verbose,
        )
    seeds = range(args.start, args.start + args.schedules)
    jobs = max(1, min(args.jobs, len(seeds)))
    started = time.perf_counter()
    if jobs == 1:
        total = _sweep(list(seeds), args.length, args.deletions)
    else:
        # Seed i goes to worker i % jobs: each schedule is deterministic by its seed alone,
        # so the figures do not depend on how they are split, only the elapsed time does.
        parts = [list(seeds[i::jobs]) for i in range(jobs)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(_sweep, part, args.length, args.deletions) for part in parts]
            total = _Figures()
            for future in futures:
                total.add(future.result())
    elapsed = time.perf_counter() - started
    n = len(seeds)
    first = {kind: sorted(found)[:8] for kind, found in total.first.items()}
    print(
        f"schedules:            {n} (seeds {seeds[0]}..{seeds[-1]}"
        f"{', each deleting a CR mid-switchover first' if args.deletions else ''}, "
        f"{args.length} actions + calm phase, {jobs} job(s))"
    )
    print(f"elapsed:              {elapsed:.1f} s  ({n / elapsed:.1f} schedules/s)")
    print(f"events simulated:     {total.events}  ({total.events / elapsed:.0f}/s)")
    print(f"kills injected:       {total.kills}")
    print(f"switchovers confirmed:{total.switchovers:>7}")
    print(
        f"CR deletions:         {total.deletions} "
        f"({total.mid_run} with a run or a journal in flight)"
    )
    print(f"violations:           {sum(total.kinds.values())} schedule(s) with a violation")
    for kind, count in total.kinds.most_common():
        known = f" [known: {KNOWN[kind]}]" if kind in KNOWN else " [NEW]"
        print(f"  {kind:32} {count:6} schedules{known}  first seeds: {first[kind]}")
    unknown = [k for k in total.kinds if k not in KNOWN]
    return 1 if unknown else 0


@dataclass
class _Figures:
    """What a sweep adds up (summed over workers)."""

    events: int = 0
    kills: int = 0
    switchovers: int = 0
    deletions: int = 0
    mid_run: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first: dict[str, list[int]] = field(default_factory=dict)
    """By violation kind, the seeds that showed it (the first few are printed)."""

    def add(self, other: _Figures) -> None:
        self.events += other.events
        self.kills += other.kills
        self.switchovers += other.switchovers
        self.deletions += other.deletions
        self.mid_run += other.mid_run
        self.kinds.update(other.kinds)
        for kind, found in other.first.items():
            self.first.setdefault(kind, []).extend(found)


def _sweep(seeds: list[int], length: int, deletions: bool) -> _Figures:
    """Run the schedules of ``seeds`` (in a worker process with ``--jobs``)."""
    make = generate_with_deletion if deletions else generate
    figures = _Figures()
    with quiet_logs():
        for seed in seeds:
            schedule = make(seed, length)
            figures.deletions += sum(isinstance(a, Delete) for a in schedule)
            out = run_sync(schedule)
            figures.mid_run += out.deletions_mid_run
            figures.events += out.events
            figures.kills += out.kills
            figures.switchovers += out.switchovers
            for kind in out.kinds():
                figures.kinds[kind] += 1
                figures.first.setdefault(kind, []).append(seed)
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
