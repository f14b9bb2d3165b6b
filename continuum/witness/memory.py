"""``in-memory``: a process-local witness for tests and the demo.

Several :class:`MemoryWitness` clients over one :class:`MemoryStore` behave like several
regions talking to one witness. The compare-and-set is atomic because ``store`` never awaits
between the version check and the write. ``MemoryStore.available = False`` makes every call
raise ``WitnessUnavailable`` (an outage, for tests).
"""

from __future__ import annotations

import anyio.lowlevel

from continuum.errors import WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness.cas import CasConflict, CasWitness

__all__ = ["MemoryStore", "MemoryWitness"]


class MemoryStore:
    """Slots in a dict; the version token is the stored generation."""

    def __init__(self) -> None:
        self._slots: dict[str, Lease] = {}
        self.available = True
        self.writes = 0

    def _check(self) -> None:
        if not self.available:
            raise WitnessUnavailable("in-memory witness is switched off")

    async def load(self, key: str) -> tuple[Lease, int | None]:
        await anyio.lowlevel.checkpoint()
        self._check()
        lease = self._slots.get(key)
        if lease is None:
            return Lease(key=key), None
        return lease, lease.generation

    async def store(self, lease: Lease, *, version: int | None) -> int:
        await anyio.lowlevel.checkpoint()
        self._check()
        current = self._slots.get(lease.key)
        current_version = None if current is None else current.generation
        if current_version != version:
            raise CasConflict(lease.key)
        self._slots[lease.key] = lease
        self.writes += 1
        return lease.generation

    async def aclose(self) -> None:
        """The store outlives its clients: closing a client keeps the slots."""


class MemoryWitness(CasWitness[int]):
    """A Witness client over a shared :class:`MemoryStore`."""

    def __init__(self, store: MemoryStore, *, clock: Clock, skew_margin: float = 0.0) -> None:
        super().__init__(store, clock=clock, skew_margin=skew_margin)
        self.memory = store
