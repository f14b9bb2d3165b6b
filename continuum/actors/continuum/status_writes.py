"""A ContinuumActor's status writes, off its mailbox (``docs/decisions.md`` #33).

A write of the CR's status waits for the API server, up to the request timeout (5 s). Made
inside the mailbox, it held every message behind it for that long, and a renewal falling due
waited: while 20,000 new CRs start at once the API server is saturated, writes time out one
after the other, and leases lapsed. So the actor writes its *routine* status in a child
task, at most one at a time: a change made while one is in flight is written by the next,
from the status as it is then (changes coalesce; none is lost, since each write carries
the whole diff from the last status known to be stored). The writes of all actors of the
process queue for a bounded number of slots (:mod:`.write_queue`). Its outcome comes back
as :class:`StatusWriteEnded` and is applied in the mailbox.

The *essential* writes (the journal before a step runs, the closed journal before the
finalizer goes) are still made in the mailbox and awaited by their caller, since what
follows must not happen unless they landed; each first waits for a write already sent
(bounded by its request timeout), so two writes of one CR never race on the wire and an
older one never lands after a newer; a routine write still waiting in the queue is
superseded instead (it will send nothing), since the queue may hold it for as long as
start-ups are under way.

A write the actor's stop cancels may still reach the API server (as one that timed out
always could); the next write, or the next instance's, is a diff from what it read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from continuum.errors import ContinuumError
from continuum.messages.status import ContinuumStatus

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["StatusWrite", "StatusWriteCrashed", "StatusWriteEnded", "start_status_write"]


@dataclass(eq=False)
class StatusWrite:
    """One write of ``durable`` (the diff from ``previous``) in flight or ended."""

    durable: ContinuumStatus
    previous: ContinuumStatus
    done: anyio.Event = field(default_factory=anyio.Event)
    """Set when the write has landed or failed (also when the stop cancelled it)."""
    landed: bool = False
    error: str = ""
    applied: bool = False
    """The actor has taken the outcome into account (once, whoever came first)."""
    sending: bool = False
    """Admitted by the write queue and sent (or being sent): it may land."""
    superseded: bool = False
    """An essential write took its place before it was sent: it will send nothing."""


class StatusWriteEnded(msgspec.Struct, frozen=True):
    """The outcome of a routine status write, for the mailbox."""

    write: Any  # StatusWrite: an in-process message, never encoded


class StatusWriteCrashed(msgspec.Struct, frozen=True):
    """A routine status write raised what no write may raise (a bug): the actor crashes, as
    it did when the write was made in the mailbox."""

    error: str


def start_status_write(actor: ContinuumActor, durable: ContinuumStatus) -> StatusWrite:
    """Write ``durable`` (the diff from the status last known stored) in a child task of
    ``actor``; the outcome arrives as :class:`StatusWriteEnded`. The caller makes sure no
    other write is in flight."""
    write = StatusWrite(durable=durable, previous=actor.written)
    status, key, queue = actor.env.status, actor.key, actor.env.write_queue

    async def work() -> StatusWrite:
        try:
            async with queue.slot():
                if write.superseded:
                    return write
                write.sending = True
                await status.patch_status(key, durable, previous=write.previous)
            write.landed = True
        except (ContinuumError, TimeoutError) as exc:
            write.error = str(exc) or type(exc).__name__
        finally:
            write.done.set()
        return write

    actor.ctx.start_child(
        work,
        on_result=StatusWriteEnded,
        on_error=lambda exc: StatusWriteCrashed(error=f"{type(exc).__name__}: {exc}"),
        name=f"status-write:{key}",
    )
    return write
