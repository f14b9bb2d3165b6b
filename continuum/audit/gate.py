"""The back-pressure gate in front of the audit outbox: ``emit`` waits while the outbox
holds ``limit`` events accepted and not yet stored, and fails once the publisher is shut
down. Nothing is ever dropped."""

from __future__ import annotations

from collections import deque

import anyio

from continuum.errors import AuditUnavailable

__all__ = ["EmitGate"]


class EmitGate:
    """Counts events between ``emit`` and "stored"; makes ``emit`` wait at the limit.

    Shared by an :class:`~continuum.audit.publisher.AuditPublisher` (which releases a
    slot once an event is stored, and closes the gate on stop) and its sink (which takes a
    slot per accepted event). Waiters are served first come, first served, and a released
    slot wakes exactly one of them (a hundred blocked emitters cost one wake-up per stored
    event, not a hundred). Single event loop; no locking needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.closed = False
        self._waiters: deque[anyio.Event] = deque()

    @property
    def full(self) -> bool:
        return self.used >= self.limit

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting for one while the gate is full. Raises
        :class:`AuditUnavailable` once the gate is closed."""
        if self.closed:
            raise AuditUnavailable("audit publisher is shut down")
        if self.used < self.limit and not self._waiters:
            self.used += 1
            return
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn in self._waiters:
                self._waiters.remove(turn)
            elif not self.closed:
                self.release()  # a slot was handed over just as the wait was cancelled
            raise
        if self.closed:
            raise AuditUnavailable("audit publisher is shut down")

    def try_acquire(self) -> bool:
        if self.closed or self.used >= self.limit or self._waiters:
            return False
        self.used += 1
        return True

    def force_acquire(self, slots: int = 1) -> None:
        """Count ``slots`` events that are already accepted (recovered from the durable
        store, or accepted for a caller that gave up waiting) even past the limit: emitters
        then wait until they are stored."""
        self.used += slots

    def release(self) -> None:
        self.used = max(0, self.used - 1)
        while self._waiters and self.used < self.limit:
            self.used += 1
            self._waiters.popleft().set()

    def close(self) -> None:
        self.closed = True
        while self._waiters:
            self._waiters.popleft().set()
