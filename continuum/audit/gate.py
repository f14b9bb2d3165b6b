"""The back-pressure gate in front of the audit outbox: ``emit`` waits while the outbox
holds ``limit`` events accepted and not yet stored, and fails once the publisher is shut
down. Nothing is ever dropped."""

from __future__ import annotations

import anyio

from continuum.errors import AuditUnavailable

__all__ = ["EmitGate"]


class EmitGate:
    """Counts events between ``emit`` and "stored"; makes ``emit`` wait at the limit.

    Shared by an :class:`~continuum.audit.publisher.AuditPublisher` (which releases a
    slot once an event is stored, and closes the gate on stop) and its sink (which takes a
    slot per accepted event). Single event loop; no locking needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.waiting = 0
        self.closed = False
        self._room: anyio.Event | None = None

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    async def acquire(self) -> None:
        while self.used >= self.limit and not self.closed:
            if self._room is None:
                self._room = anyio.Event()
            self.waiting += 1
            try:
                await self._room.wait()
            finally:
                self.waiting -= 1
        if self.closed:
            raise AuditUnavailable("audit publisher is shut down")
        self.used += 1

    def try_acquire(self) -> bool:
        if self.closed or self.used >= self.limit:
            return False
        self.used += 1
        return True

    def release(self) -> None:
        self.used = max(0, self.used - 1)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            room.set()
