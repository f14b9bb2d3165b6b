"""Slots: at most so many holders at once, first come, first served (the start gate's and the
write queue's admission)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

__all__ = ["Slots"]


class Slots:
    """At most ``capacity`` holders at once among the tasks of one event loop; the others wait
    in arrival order. The limiter is made on first use, in the loop. Raises ``ValueError``
    for a ``capacity`` below 1."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._limiter: anyio.CapacityLimiter | None = None

    def resize(self, capacity: int) -> None:
        """Change the capacity; holders beyond a smaller one keep their slots until they
        leave. Call it from the event loop's thread."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        if self._limiter is not None:
            self._limiter.total_tokens = capacity

    @property
    def in_use(self) -> int:
        """Slots held now."""
        return 0 if self._limiter is None else int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        """Tasks waiting for a slot."""
        return 0 if self._limiter is None else self._limiter.statistics().tasks_waiting

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Wait (untimed) for a free slot and hold it for the block."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.capacity)
        async with self._limiter:  # the borrower is the calling task
            yield
