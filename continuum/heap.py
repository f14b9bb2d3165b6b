"""Keeping the cyclic garbage collector's full passes short in a long-running controller.

CPython's collector scans its oldest generation in full whenever the objects promoted into it
since the last full pass exceed a quarter of it. A controller holds about 120 tracked objects
per Continuum (the actor, its mailbox and tasks, closures, status structs) and every renewal
promotes a few more, so at 1,000 CRs a full pass ran every 5–20 s over ~190,000 objects, and
at 10,000 CRs it stopped the event loop for seconds: renewals ran late by that much (issue
18, ``bench/scale.py`` with ``BENCH_GC_LOG``).

:func:`tending_heap` moves what survived so far into the permanent generation
(:func:`gc.freeze`), which full passes skip: they then scan only what was allocated since.
Each tending first puts the frozen objects back (:func:`gc.unfreeze`) and collects in full,
so cyclic garbage is reclaimed at most one period late and nothing leaks for good. Tendings
run :data:`FIRST_AFTER` seconds after start, then at doubling intervals up to one per
:data:`EVERY` seconds: one full pause per period instead of one every few seconds.
Reference counting, which frees almost everything, is untouched.

Between tendings the heap also *settles*: every :data:`CHECK_EVERY` seconds, when the oldest
generation holds more than :data:`OLD_LIMIT` unfrozen objects, they are frozen at once
(:func:`gc.freeze` alone, no collection: it costs no pause). A replica that joins a shard
group builds its share and the CR watch's cache of the whole region in seconds; before, the
full passes during that burst each scanned everything built so far (at 5,000 CRs over
4 replicas: 28 full passes of 0.1–1.6 s in 40 s on one replica, 11 s of its 18.5 CPU
seconds, its event loop stopped as long; ``bench/shard.py --probe``, ``docs/benchmarks.md``).
Now a full pass scans at most about :data:`OLD_LIMIT` objects plus what one check period
promoted. What is frozen that way and becomes cyclic garbage waits for the next tending, as
with the tendings' own freeze. A quiet process (few promotions) never reaches the limit and
keeps collecting as CPython does.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

import anyio

from continuum.ports import Clock

FIRST_AFTER: Final = 300.0
"""Seconds from start to the first tending. Was 30 s, when the first tending was what froze
the actors built at start-up; :func:`settle` does that now, and a tending 30 s in fell in
the middle of a shard replica's start-up, its full pass the longest pause of its loop
(0.6–1.7 s at 5,000 CRs over 4 replicas on a loaded 2-core machine)."""

EVERY: Final = 600.0
"""Seconds between tendings once start-up is long over (intervals double up to this)."""

CHECK_EVERY: Final = 1.0
"""Seconds between two looks at the oldest generation's unfrozen size."""

YOUNG_THRESHOLD: Final = 20_000
"""Net allocations of tracked objects between two collections of the youngest generation
while the heap is tended (CPython's default: 700). The oldest generation's passes follow
every tenth of the middle one's, so the default made a replica starting thousands of actors
collect several times a second (at 10,000 CRs over 4 replicas: 130–190 middle passes and
~45 full ones of 0.2–1 s each in 3 minutes, about 30 of its 75 CPU seconds). Cyclic garbage
waits at most that many allocations longer; everything else is freed by reference counting
as before."""

OLD_LIMIT: Final = 50_000
"""Unfrozen objects the oldest generation may hold before a check freezes them (a full pass
over that many takes tens of milliseconds)."""


def tend() -> None:
    """Collect everything in full (the frozen objects included), then freeze the survivors."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def settle(limit: int = OLD_LIMIT) -> bool:
    """Freeze every tracked object (no collection) when the oldest generation holds more than
    ``limit`` unfrozen ones; True when it did. Costs one list of the oldest generation."""
    if len(gc.get_objects(generation=2)) <= limit:
        return False
    gc.freeze()
    return True


def schedule(*, first: float = FIRST_AFTER, every: float = EVERY) -> list[float]:
    """The delays between tendings: ``first``, then doubling, then ``every`` for ever (the
    returned list ends with the first ``every``; repeat its last item)."""
    delays = [first]
    while delays[-1] * 2 < every:
        delays.append(delays[-1] * 2)
    delays.append(every)
    return delays


@asynccontextmanager
async def tending_heap(
    clock: Clock,
    *,
    run: Callable[[], None] = tend,
    check: Callable[[], object] = settle,
    check_every: float = CHECK_EVERY,
    young_threshold: int = YOUNG_THRESHOLD,
) -> AsyncIterator[None]:
    """Tend the heap (``run``, :func:`tend` by default) on :func:`schedule` while the block
    runs, settle it (``check``, :func:`settle` by default) every ``check_every`` seconds,
    and collect the youngest generation every ``young_threshold`` net allocations. On exit
    all three stop, the thresholds are restored and the frozen objects are put back (the
    process is then as the collector left it)."""

    async def loop() -> None:
        delays = schedule()
        index = 0
        while True:
            await clock.sleep(delays[index])
            run()
            index = min(index + 1, len(delays) - 1)

    async def settling() -> None:
        while True:
            await clock.sleep(check_every)
            check()

    thresholds = gc.get_threshold()
    gc.set_threshold(young_threshold, *thresholds[1:])
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(loop)
            tg.start_soon(settling)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
