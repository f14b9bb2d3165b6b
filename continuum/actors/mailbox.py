"""What travels through a mailbox besides plain messages, and the errors of ``tell``/``ask``.

A ``tell`` puts the message itself in the mailbox (no wrapper); an ``ask`` puts an
:class:`AskEnvelope`, the one-shot reply slot the asker waits on.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import msgspec

from continuum.errors import ContinuumError


class ReplyError(ContinuumError):
    """Raised by ``on_message`` to answer an ``ask`` with an error.

    The asker gets this exception (the same object); the actor keeps running. For a ``tell``
    it is recorded in ``statistics().last_error`` and logged.
    """


class ActorDead(ContinuumError):
    """The actor no longer accepts messages: it stopped, crashed, or is stopping.

    Raised by ``tell``/``ask`` on a dead ref, and to every asker whose question was still
    waiting in (or for room in) the mailbox when the actor ended.
    """


class ActorCrashed(ActorDead):
    """The actor crashed while handling this very ask; ``__cause__`` is the exception."""


class AskTimeout(ContinuumError):
    """No reply within the ask's timeout (on the actor's clock). The question may still be
    handled later; its answer is then discarded."""


class MailboxFull(ContinuumError):
    """``tell_nowait`` found the mailbox full. Nothing was enqueued."""


class ActorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor incarnation, cheap enough to take on every scrape."""

    name: str
    """The actor's name (the supervisor key, ``namespace/name``, under a supervisor)."""
    mailbox_depth: int
    """Messages waiting in the mailbox (not counting the one being handled)."""
    mailbox_size: int
    """The mailbox capacity."""
    processed: int
    """Messages handled by this incarnation (including those answered with ReplyError)."""
    last_error: str | None
    """The latest error from a hook (``Type: message``), carried across restarts."""
    alive: bool
    """True while the actor accepts messages."""
    restarts: int
    """How many times the supervisor restarted this key before this incarnation."""
    senders_waiting: int = 0
    """Tasks blocked in ``tell``/``ask`` because the mailbox is full (back-pressure)."""


def describe(error: BaseException) -> str:
    """``Type: message``, the form ``last_error`` uses."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class AskEnvelope:
    """One question in a mailbox and its reply slot.

    The asker waits inside ``scope`` (a cancel scope it owns); settling the envelope records
    the outcome and cancels that scope, which wakes the asker without a task or an event per
    ask. Only the first settlement counts.
    """

    __slots__ = ("deferred", "error", "message", "scope", "settled", "value")

    def __init__(self, message: msgspec.Struct) -> None:
        self.message = message
        self.scope: anyio.CancelScope | None = None
        self.settled = False
        self.deferred = False
        """The actor answers later (:class:`Reply`), not with ``on_message``'s return value."""
        self.value: object = None
        self.error: BaseException | None = None

    def resolve(self, value: object) -> None:
        """Answer with ``value``."""
        if not self.settled:
            self.settled = True
            self.value = value
            self._wake()

    def fail(self, error: BaseException) -> None:
        """Answer with ``error`` (raised in the asker)."""
        if not self.settled:
            self.settled = True
            self.error = error
            self._wake()

    def _wake(self) -> None:
        scope, self.scope = self.scope, None
        if scope is not None:
            scope.cancel()


class Reply:
    """The answer to an ask that the actor gives later (``ActorContext.defer_reply``): while
    the work behind it runs in a child task, the mailbox goes on with the next message.

    Only the first :meth:`resolve` or :meth:`fail` counts; if the actor stops first, the asker
    gets :class:`ActorDead`. An asker that timed out meanwhile is simply not there to see it.
    """

    __slots__ = ("_envelope", "_forget")

    def __init__(self, envelope: AskEnvelope, forget: Callable[[AskEnvelope], object]) -> None:
        self._envelope = envelope
        self._forget = forget

    @property
    def settled(self) -> bool:
        return self._envelope.settled

    def resolve(self, value: object) -> None:
        """Answer with ``value``."""
        self._envelope.resolve(value)
        self._forget(self._envelope)

    def fail(self, error: BaseException) -> None:
        """Answer with ``error`` (raised in the asker)."""
        self._envelope.fail(error)
        self._forget(self._envelope)


class CallbackFailed:
    """Internal message: a child task's ``on_result``/``on_error`` callback raised. Handling
    it crashes the actor with that error, in mailbox order."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
