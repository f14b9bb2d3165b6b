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
run :data:`FIRST_AFTER` seconds after start, then at doubling intervals (start-up builds the
actors over tens of seconds) up to one per :data:`EVERY` seconds: one full pause per period
instead of one every few seconds. Reference counting, which frees almost everything, is
untouched.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

import anyio

from continuum.ports import Clock

FIRST_AFTER: Final = 30.0
"""Seconds from start to the first tending."""

EVERY: Final = 600.0
"""Seconds between tendings once start-up is long over (intervals double up to this)."""


def tend() -> None:
    """Collect everything in full (the frozen objects included), then freeze the survivors."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def schedule(*, first: float = FIRST_AFTER, every: float = EVERY) -> list[float]:
    """The delays between tendings: ``first``, then doubling, then ``every`` for ever (the
    returned list ends with the first ``every``; repeat its last item)."""
    delays = [first]
    while delays[-1] * 2 < every:
        delays.append(delays[-1] * 2)
    delays.append(every)
    return delays


@asynccontextmanager
async def tending_heap(clock: Clock, *, run: Callable[[], None] = tend) -> AsyncIterator[None]:
    """Tend the heap (``run``, :func:`tend` by default) on :func:`schedule` while the block
    runs. On exit the tending stops and the frozen objects are put back (the process is then
    as the collector left it)."""

    async def loop() -> None:
        delays = schedule()
        index = 0
        while True:
            await clock.sleep(delays[index])
            run()
            index = min(index + 1, len(delays) - 1)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(loop)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
    finally:
        gc.unfreeze()
