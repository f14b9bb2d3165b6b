"""The actor runtime: one mailbox-driven task per actor, on anyio (asyncio or trio).

An :class:`Actor` handles one message at a time, in mailbox order; everything it owns changes
only inside its hooks. Callers hold an :class:`ActorRef` and ``tell`` (fire-and-forget with
back-pressure) or ``ask`` (request/reply bounded on the injected clock). Long work runs in
child tasks whose outcome comes back as a message; timers are messages the runtime delivers
later. ``docs/actors.md`` states the semantics in one page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import ClassVar

import anyio
import msgspec

from continuum.actors.cell import ActorCell
from continuum.actors.handles import ActorContext, ActorRef, ChildTask
from continuum.actors.host import ActorHost
from continuum.actors.mailbox import (
    ActorCrashed,
    ActorDead,
    ActorStatistics,
    AskTimeout,
    MailboxFull,
    Reply,
    ReplyError,
)
from continuum.ports import Clock

__all__ = [
    "Actor",
    "ActorContext",
    "ActorCrashed",
    "ActorDead",
    "ActorHost",
    "ActorRef",
    "ActorStatistics",
    "AskTimeout",
    "ChildTask",
    "MailboxFull",
    "Reply",
    "ReplyError",
    "run_actor",
]


class Actor:
    """Base class of every actor: subclass it and override the hooks.

    The runtime calls the hooks from the actor's own task, never concurrently:
    ``on_start`` once before the first message, ``on_message`` once per message in mailbox
    order, ``on_stop`` once at the end. ``ctx`` is set before ``on_start``.

    - ``on_message`` returning a value answers an ``ask`` (ignored for a ``tell``).
      Raising :class:`ReplyError` answers the ask with that error and the actor keeps
      running; raising anything else crashes the actor: the asker gets
      :class:`ActorCrashed`, ``on_stop(error)`` runs, and its supervisor decides what next.
    - ``on_start`` raising is a crash too (``on_stop`` still runs, with that error).
    - ``on_stop(error)``: ``error`` is ``None`` after a requested stop, the exception after a
      crash. By then the mailbox is closed, timers and child tasks are cancelled. An
      exception raised by ``on_stop`` is logged and otherwise ignored. If the actor does not
      stop within its supervisor's shutdown bound it is cancelled, and ``on_stop`` may be cut
      short or not run at all.
    """

    mailbox_size: ClassVar[int] = 100
    """Capacity of the mailbox; a ``tell`` to a full mailbox waits (back-pressure)."""

    serves_views: ClassVar[bool] = False
    """Take a :meth:`view` at the start of every message, so that readers
    (``ActorRef.view``) never wait behind one — the first reader in an incident included.
    Without it a view is taken only once somebody has read one."""

    ctx: ActorContext

    async def on_start(self) -> None:
        """Called once, before the first message. Default: nothing."""

    async def on_message(self, message: msgspec.Struct) -> object:
        """Handle one message; the return value answers an ``ask``.

        Default: refuse the message with :class:`ReplyError` (the actor keeps running).
        """
        raise ReplyError(f"{type(self).__name__} does not handle {type(message).__name__}")

    async def on_stop(self, error: BaseException | None) -> None:
        """Called once, last. ``error`` is why the actor stopped (``None``: asked to stop)."""

    def view(self) -> object:
        """A snapshot of the state for readers outside the mailbox (``ActorRef.view``).

        Called by the runtime only while no hook is running (between two messages), from the
        actor's task or a reader's; must not await, block, fail or change anything, and must
        return a value later messages cannot change (a new or immutable object). Default:
        ``None``.
        """
        return None


@asynccontextmanager
async def run_actor(
    actor: Actor,
    *,
    clock: Clock,
    name: str = "",
    shutdown_timeout: float = 10.0,
) -> AsyncIterator[ActorRef]:
    """Run one actor outside a supervisor for the duration of the ``async with`` block.

    Yields the actor's ref as soon as its mailbox exists (messages sent before ``on_start``
    has finished wait in the mailbox). On exit, however the block ends, the actor is stopped
    gracefully (``on_stop`` runs) within ``shutdown_timeout`` seconds of ``clock`` time and
    cancelled past it; the exit is shielded, so a cancellation arriving meanwhile does not cut
    the shutdown short. A crash is never restarted and never raised here: the ref turns dead
    (``ActorDead``) and ``statistics().last_error`` says why. Exceptions of the block
    propagate unchanged (not wrapped in an exception group).
    """
    async with ActorHost() as host:
        cell = ActorCell(actor, name=name or type(actor).__name__, clock=clock, host=host)
        host.start_soon(cell.run, name=f"actor:{cell.name}")
        try:
            yield cell.ref
        finally:
            with anyio.CancelScope(shield=True):
                await cell.stop_within(shutdown_timeout)
