"""The machinery under an actor: its cell (mailbox, loop, timers, children, lifecycle).

One :class:`ActorCell` per actor incarnation: a bounded anyio memory stream as the mailbox and
one task running :meth:`ActorCell.run`. Child tasks are created lazily, each a task in the
cell's :class:`ActorHost` with its own cancel scope; timers are entries in the host's one
:class:`~continuum.actors.timers.TimerQueue`, so an idle actor costs one task and one stream.
Supervisors build on this module; actor authors use ``continuum.actors.runtime``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import msgspec
import structlog

from continuum.actors.handles import ActorContext, ActorRef, ChildTask
from continuum.actors.host import ActorHost
from continuum.actors.mailbox import (
    ActorCrashed,
    ActorDead,
    ActorStatistics,
    AskEnvelope,
    AskTimeout,
    CallbackFailed,
    Reply,
    ReplyError,
    describe,
)
from continuum.actors.timers import Timer
from continuum.ports import Clock

if TYPE_CHECKING:
    from continuum.actors.runtime import Actor


T = TypeVar("T")

log = structlog.get_logger("continuum.actors")

_SendFailed = (anyio.ClosedResourceError, anyio.BrokenResourceError)


class ActorCell:
    """One actor incarnation: mailbox, loop, timers, children and lifecycle."""

    __slots__ = (
        "_busy",
        "_children",
        "_children_ended",
        "_closed",
        "_current",
        "_deferred",
        "_done_waiters",
        "_idle_waiters",
        "_receive",
        "_timers",
        "_view",
        "_view_taken",
        "_view_wanted",
        "actor",
        "clock",
        "finished",
        "handing_over",
        "host",
        "last_error",
        "mailbox_size",
        "name",
        "processed",
        "ref",
        "restarts",
        "scope",
        "send",
        "stopping",
    )

    def __init__(
        self,
        actor: Actor,
        *,
        name: str,
        clock: Clock,
        host: ActorHost,
        restarts: int = 0,
        last_error: str | None = None,
    ) -> None:
        self.actor = actor
        self.name = name
        self.clock = clock
        self.host = host
        self.restarts = restarts
        self.last_error = last_error
        self.mailbox_size = actor.mailbox_size
        self.send, self._receive = anyio.create_memory_object_stream[object](self.mailbox_size)
        self.ref = ActorRef(self)
        # Shielded: only kill() (or the end of run) cancels what runs in here.
        self.scope = anyio.CancelScope(shield=True)
        self.processed = 0
        self.stopping = False
        self.handing_over = False  # see ActorContext.handing_over
        self.finished = False
        self._closed = False
        self._current: AskEnvelope | None = None
        self._deferred: set[AskEnvelope] | None = None
        self._timers: dict[str, Timer] | None = None
        self._children: set[ChildTask] | None = None
        self._children_ended: Callable[[], object] | None = None
        self._done_waiters: list[Callable[[], object]] | None = None
        # Views (see ``view``): busy from the start until the loop waits for a message.
        self._busy = True
        self._view: object = None
        self._view_taken = False
        self._view_wanted = actor.serves_views
        self._idle_waiters: list[Callable[[], object]] | None = None
        actor.ctx = ActorContext(self)

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self) -> BaseException | None:
        """Run the actor to its end. Returns the crash error, or ``None`` after a requested
        stop (or a kill). Never raises an actor's exception.

        It ends (``finished``, :meth:`wait_finished`) only once every child task has ended
        too: children are cancelled at the stop, and one inside a shielded section (a
        switchover compensation, bounded by its own timeout) is waited for, even after a
        kill. So nothing the actor started still writes once its stop has returned, and a
        successor started after that stop (a shard hand-over) never runs beside it."""
        error: BaseException | None = None
        try:
            with self.scope:
                try:
                    await self.actor.on_start()
                    await self._serve()
                except Exception as exc:
                    error = exc
                    self.last_error = describe(exc)
                    log.error("actor_crashed", actor=self.name, error=self.last_error, exc_info=exc)
                self._close()
                try:
                    await self.actor.on_stop(error)
                except Exception as exc:
                    self.last_error = describe(exc)
                    log.error("actor_on_stop_failed", actor=self.name, error=self.last_error)
        finally:
            self._close()
            if self._children:
                with anyio.CancelScope(shield=True):
                    await self._wait_children_ended()
            self.finished = True
            waiters, self._done_waiters = self._done_waiters, None
            for wake in waiters or ():
                wake()
        return error

    async def _wait_children_ended(self) -> None:
        with anyio.CancelScope() as scope:
            self._children_ended = scope.cancel
            if self._children:
                await anyio.sleep_forever()  # the last child's end cancels the scope
        self._children_ended = None

    def request_stop(self, *, handing_over: bool = False) -> None:
        """Close the mailbox now; the loop ends after the current message. Idempotent: a
        stop already requested keeps its own ``handing_over``."""
        if not self.stopping:
            self.stopping = True
            self.handing_over = handing_over
            # Withdraws blocked senders too: their tell/ask raise ActorDead.
            self.send.close()

    def kill(self) -> None:
        """Cancel whatever the actor is doing (message or ``on_stop``). Idempotent."""
        self.scope.cancel()

    async def wait_finished(self, timeout: float | None) -> bool:
        """Wait until ``run`` has ended, at most ``timeout`` seconds of clock time (``None``:
        no bound). Returns whether it has ended."""
        if self.finished:
            return True
        with anyio.CancelScope() as scope:
            if self._done_waiters is None:
                self._done_waiters = []
            self._done_waiters.append(scope.cancel)
            if timeout is None:
                await anyio.sleep_forever()
            else:
                await self.clock.sleep(timeout)
        return self.finished

    async def stop_within(self, timeout: float, *, handing_over: bool = False) -> None:
        """Stop gracefully; past ``timeout`` seconds of clock time, kill. Returns once ended.
        ``handing_over``: see :meth:`request_stop`."""
        self.request_stop(handing_over=handing_over)
        if not await self.wait_finished(timeout):
            log.warning("actor_shutdown_timeout", actor=self.name, timeout=timeout)
            self.kill()
            await self.wait_finished(None)

    def dead(self) -> ActorDead:
        return ActorDead(f"actor {self.name!r} is not running")

    # --- the loop --------------------------------------------------------------------------

    async def _serve(self) -> None:
        receive = self._receive
        while not self.stopping:
            self._idle()
            try:
                item = await receive.receive()
            except anyio.EndOfStream:
                return
            if self._view_wanted:
                # The state between two messages, for readers while this one is handled.
                self._view = self.actor.view()
                self._view_taken = True
            self._busy = True
            if type(item) is AskEnvelope:
                await self._answer(item)
            elif type(item) is CallbackFailed:
                raise item.error
            else:
                try:
                    await self.actor.on_message(item)  # type: ignore[arg-type]
                except ReplyError as exc:
                    self.last_error = describe(exc)
                    log.warning("actor_refused_tell", actor=self.name, error=self.last_error)
                self.processed += 1
            # An idle actor must not keep its last message (and an asker's scope) alive.
            del item

    def _idle(self) -> None:
        self._busy = False
        waiters, self._idle_waiters = self._idle_waiters, None
        for wake in waiters or ():
            wake()

    def view_nowait(self) -> Any:
        if self.stopping:
            raise self.dead()
        self._view_wanted = True
        if not self._busy:
            return self.actor.view()
        if self._view_taken:
            return self._view
        raise anyio.WouldBlock

    async def view(self, timeout: float) -> Any:
        try:
            return self.view_nowait()
        except anyio.WouldBlock:
            pass
        # Still starting (or an actor without a view of its own): wait for it to be between
        # messages.
        with anyio.CancelScope() as scope:
            if self._idle_waiters is None:
                self._idle_waiters = []
            self._idle_waiters.append(scope.cancel)
            await self.clock.sleep(timeout)
        if self.stopping:
            raise self.dead()
        if not self._busy:
            return self.actor.view()
        if self._view_taken:
            return self._view
        raise AskTimeout(f"{self.name!r} did not become idle for a view in {timeout}s")

    async def _answer(self, envelope: AskEnvelope) -> None:
        self._current = envelope
        try:
            value = await self.actor.on_message(envelope.message)
        except ReplyError as exc:
            self.processed += 1
            self.last_error = describe(exc)
            envelope.fail(exc)
        except Exception as exc:
            what = type(envelope.message).__name__
            crashed = ActorCrashed(f"actor {self.name!r} crashed on {what}: {describe(exc)}")
            crashed.__cause__ = exc
            envelope.fail(crashed)
            raise
        else:
            self.processed += 1
            if not envelope.deferred:
                envelope.resolve(value)
        finally:
            self._current = None
            if not envelope.settled and not envelope.deferred:  # killed mid-message
                envelope.fail(self.dead())
            if envelope.deferred and envelope.settled and self._deferred is not None:
                self._deferred.discard(envelope)  # answered by a ReplyError after deferring

    def defer_reply(self) -> Reply:
        envelope = self._current
        if envelope is None:
            raise RuntimeError("defer_reply() is only valid while an ask is being handled")
        envelope.deferred = True
        if self._deferred is None:
            self._deferred = set()
        self._deferred.add(envelope)
        return Reply(envelope, self._deferred.discard)

    def _close(self) -> None:
        """Close the mailbox, fail queued asks, cancel timers and children. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.request_stop()
        while True:
            try:
                item = self._receive.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            if type(item) is AskEnvelope:
                item.fail(self.dead())
        for envelope in self._deferred or ():
            envelope.fail(self.dead())
        self._deferred = None
        self._receive.close()
        for timer in (self._timers or {}).values():
            timer.cancel()
        for child in self._children or ():
            child.cancel()
        self._idle()  # wakes readers waiting for a view: they find the actor dead

    # --- ask -------------------------------------------------------------------------------

    async def ask(self, message: msgspec.Struct, timeout: float) -> Any:
        if self.stopping:
            raise self.dead()
        envelope = AskEnvelope(message)
        deadline = self.clock.monotonic() + timeout
        # The reply (or the actor's death) cancels this scope: no task, no event per ask.
        with anyio.CancelScope() as scope:
            envelope.scope = scope
            try:
                self.send.send_nowait(envelope)
            except anyio.WouldBlock:
                await self._send_before(envelope, deadline)
            except _SendFailed:
                raise self.dead() from None
            await self.clock.sleep_until(deadline)
        if envelope.settled:
            if envelope.error is not None:
                raise envelope.error
            return envelope.value
        raise AskTimeout(f"{self.name!r} did not answer {type(message).__name__} in {timeout}s")

    async def _send_before(self, envelope: AskEnvelope, deadline: float) -> None:
        """Slow path of ``ask``: wait for room in the mailbox, bounded by ``deadline``."""
        dead = False
        sent = False
        async with anyio.create_task_group() as tg:

            async def expire() -> None:
                await self.clock.sleep_until(deadline)
                tg.cancel_scope.cancel()

            tg.start_soon(expire)
            try:
                await self.send.send(envelope)
                sent = True
            except _SendFailed:
                dead = True
            tg.cancel_scope.cancel()
        if dead:
            raise self.dead()
        if not sent:
            raise AskTimeout(f"mailbox of {self.name!r} stayed full until the ask's deadline")

    # --- timers and children ---------------------------------------------------------------

    def start_timer(self, key: str, delay: float, message: msgspec.Struct, repeat: bool) -> None:
        if delay < 0 or (repeat and delay <= 0):
            raise ValueError(f"timer {key!r}: bad delay {delay}")
        if self.stopping:
            return
        self.cancel_timer(key)
        if self._timers is None:
            self._timers = {}
        timer = self.host.timer_queue(self.clock).start(
            self.send, delay=delay, message=message, repeat=repeat
        )
        if not repeat:
            timer.on_done = lambda: self._timer_over(key, timer)
        self._timers[key] = timer

    def cancel_timer(self, key: str) -> None:
        if self._timers is not None and (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

    def _timer_over(self, key: str, timer: Timer) -> None:
        if self._timers is not None and self._timers.get(key) is timer:
            del self._timers[key]

    def start_child(
        self,
        work: Callable[[], Awaitable[T]],
        on_result: Callable[[T], msgspec.Struct],
        on_error: Callable[[BaseException], msgspec.Struct],
        name: str,
    ) -> ChildTask:
        child = ChildTask(name or f"{self.name}:child")
        if self.stopping:
            child.cancel()
            child._done = True
            return child
        if self._children is None:
            self._children = set()
        self._children.add(child)
        self.host.start_bare(self._run_child, child, work, on_result, on_error, name=child.name)
        return child

    async def _run_child(
        self,
        child: ChildTask,
        work: Callable[[], Awaitable[T]],
        on_result: Callable[[T], msgspec.Struct],
        on_error: Callable[[BaseException], msgspec.Struct],
    ) -> None:
        try:
            with child.scope:
                message: object
                try:
                    message = on_result(await work())
                except Exception as exc:
                    try:
                        message = on_error(exc)
                    except Exception as callback_error:
                        message = CallbackFailed(callback_error)
                # Straight into the mailbox when there is room: no checkpoint, so the message
                # is queued in the same step that finished the work. Cancelled meanwhile (the
                # actor stopping, ``ChildTask.cancel``): no message, as the slow path's
                # checkpoint would have decided.
                if child.scope.cancel_called:
                    return
                try:
                    self.send.send_nowait(message)
                except anyio.WouldBlock:
                    await self.send.send(message)
        except _SendFailed:
            pass
        finally:
            child._done = True
            if self._children is not None:
                self._children.discard(child)
                if not self._children and self._children_ended is not None:
                    self._children_ended()

    # --- observability ---------------------------------------------------------------------

    def statistics(self) -> ActorStatistics:
        stream = self._receive.statistics()
        return ActorStatistics(
            name=self.name,
            mailbox_depth=stream.current_buffer_used,
            mailbox_size=self.mailbox_size,
            processed=self.processed,
            last_error=self.last_error,
            alive=not self.stopping,
            restarts=self.restarts,
            senders_waiting=stream.tasks_waiting_send,
        )
