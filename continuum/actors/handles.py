"""The handles on an actor: ActorRef (for callers), ActorContext (for the actor itself),
ChildTask. They hold only their cell; the behaviour lives in ``continuum.actors.cell``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import msgspec

from continuum.actors.mailbox import ActorStatistics, MailboxFull, Reply
from continuum.ports import Clock

if TYPE_CHECKING:
    from continuum.actors.cell import ActorCell

T = TypeVar("T")

_SendFailed = (anyio.ClosedResourceError, anyio.BrokenResourceError)


class ChildTask:
    """A task owned by an actor. It is cancelled when the actor stops; a cancelled child
    delivers no message."""

    __slots__ = ("_done", "name", "scope")

    def __init__(self, name: str) -> None:
        self.name = name
        self.scope = anyio.CancelScope()
        self._done = False

    @property
    def done(self) -> bool:
        """True once the child has finished (delivered its message, or was cancelled)."""
        return self._done

    def cancel(self) -> None:
        """Cancel the child. Idempotent; a message already in the mailbox stays there."""
        self.scope.cancel()


class ActorRef:
    """The address of one actor incarnation. Cheap to copy; safe to use from any task."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    def __repr__(self) -> str:
        state = "alive" if self.alive else "dead"
        return f"<ActorRef {self._cell.name!r} {state}>"

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def alive(self) -> bool:
        """True while the actor accepts messages (False as soon as it is stopping)."""
        return not self._cell.stopping

    async def tell(self, message: msgspec.Struct) -> None:
        """Enqueue ``message``. Waits while the mailbox is full (back-pressure: never drops).

        Raises :class:`ActorDead` if the actor is stopped, or stops while this waits (the
        message is then not enqueued).
        """
        try:
            await self._cell.send.send(message)
        except _SendFailed:
            raise self._cell.dead() from None

    def tell_nowait(self, message: msgspec.Struct) -> None:
        """Enqueue ``message`` now. Raises :class:`MailboxFull` (nothing enqueued) or
        :class:`ActorDead`."""
        try:
            self._cell.send.send_nowait(message)
        except anyio.WouldBlock:
            raise MailboxFull(f"mailbox of {self._cell.name!r} is full") from None
        except _SendFailed:
            raise self._cell.dead() from None

    async def ask(self, message: msgspec.Struct, *, timeout: float = 5.0) -> Any:
        """Send ``message`` and return ``on_message``'s answer.

        ``timeout`` (seconds of the actor's clock) bounds the whole call, including waiting for
        room in a full mailbox. Raises :class:`AskTimeout` past it, :class:`ActorDead` if the
        actor is or becomes dead before answering (never hangs on a dead actor),
        :class:`ActorCrashed` if handling this message crashed the actor, and the
        :class:`ReplyError` the actor raised, as is.
        """
        return await self._cell.ask(message, timeout)

    @property
    def serves_views(self) -> bool:
        """Whether the actor takes a view at the start of every message
        (:attr:`~continuum.actors.runtime.Actor.serves_views`): :meth:`view` never waits
        behind a message then."""
        return self._cell.actor.serves_views

    async def view(self, *, timeout: float = 5.0) -> Any:
        """The actor's :meth:`~continuum.actors.runtime.Actor.view`, without entering its
        mailbox: taken now when the actor is between messages, otherwise the one taken when
        the message it is handling began. So a reader never waits behind a message that
        awaits I/O, and never sees a state half-way through a message.

        A call waits, bounded by ``timeout`` seconds of the actor's clock, for the actor to
        be between messages only when no view was taken at the start of the current one:
        during ``on_start``, and, for an actor without ``serves_views``, the first time
        anybody reads one. Raises
        :class:`ActorDead` if the actor is stopping or stopped, :class:`AskTimeout` past
        ``timeout``.
        """
        return await self._cell.view(timeout)

    def view_nowait(self) -> Any:
        """:meth:`view` when it needs no wait: raises ``anyio.WouldBlock`` where :meth:`view`
        would wait (during ``on_start``, or before any view of an actor without
        ``serves_views``), :class:`ActorDead` if the actor is stopping or stopped."""
        return self._cell.view_nowait()

    def statistics(self) -> ActorStatistics:
        """Mailbox depth, processed count, last error, liveness, restarts: see the Struct."""
        return self._cell.statistics()

    async def wait_stopped(self) -> None:
        """Return once this incarnation has fully ended (``on_stop`` returned)."""
        await self._cell.wait_finished(None)


class ActorContext:
    """The actor's handle on the runtime, set as ``actor.ctx`` before ``on_start``."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def ref(self) -> ActorRef:
        return self._cell.ref

    @property
    def clock(self) -> Clock:
        return self._cell.clock

    def start_child(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        on_result: Callable[[T], msgspec.Struct],
        on_error: Callable[[BaseException], msgspec.Struct],
        name: str = "",
    ) -> ChildTask:
        """Run ``work()`` in a task owned by this actor; its outcome comes back as a message.

        ``on_result(value)`` or, if ``work`` (or ``on_result``) raises, ``on_error(exc)`` builds
        the message, which is enqueued like a ``tell`` and handled by ``on_message`` in mailbox
        order. If ``on_error`` itself raises, the actor crashes with that error when the
        failure reaches the head of the mailbox. Children are cancelled when the actor stops.
        """
        return self._cell.start_child(work, on_result, on_error, name)

    def defer_reply(self) -> Reply:
        """Take over the answer to the ask being handled: ``on_message``'s return value is then
        ignored, and the asker waits until :meth:`Reply.resolve` or :meth:`Reply.fail` (or
        :class:`ActorDead` once this actor stops). A ``ReplyError`` raised by ``on_message``
        after this call still answers the ask. For work that must not hold the mailbox:
        start it with :meth:`start_child` and answer when its message arrives.

        Raises ``RuntimeError`` outside the handling of an ask (a ``tell``, a hook)."""
        return self._cell.defer_reply()

    def start_timer(
        self, key: str, delay: float, message: msgspec.Struct, *, repeat: bool = False
    ) -> None:
        """Deliver ``message`` after ``delay`` seconds of ``clock`` time (then every ``delay``
        if ``repeat``). A timer with the same key replaces the previous one. A repeating timer
        that falls behind (full mailbox) skips the missed ticks instead of bunching them."""
        self._cell.start_timer(key, delay, message, repeat)

    def cancel_timer(self, key: str) -> None:
        """Cancel the timer ``key`` if any. A message it already enqueued stays enqueued."""
        self._cell.cancel_timer(key)

    def stop(self) -> None:
        """Stop this actor after the current message: the mailbox closes now (later tells and
        queued asks get :class:`ActorDead`), then ``on_stop(None)`` runs."""
        self._cell.request_stop()

    @property
    def handing_over(self) -> bool:
        """The stop under way was asked by the supervisor to hand this actor's key to another
        instance, which starts it only after this stop has returned (a shard rebalance): in
        ``on_stop``, leave what the successor needs fresh. False for every other stop (the
        actor's own, a crash, a shutdown)."""
        return self._cell.handing_over
