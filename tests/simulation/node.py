"""One region's instance in the simulation: the real ContinuumActor, run by the simulator
instead of the actor runtime.

The simulator is the runtime here: the actor's mailbox is a deque the simulator delivers from
one message at a time, its timers are entries the simulator fires in clock order, its child
tasks (switchover runs, the health check, the audit pump) are asyncio tasks whose outcome is
posted to the mailbox. A kill (:meth:`SimNode.kill`) drops all of it — in-memory state,
mailbox, timers — and makes every task of the dead incarnation raise :class:`Crash` the next
time it touches the world or asks the actor; :meth:`SimNode.start` builds a new actor from
what was durable: its region's CR (spec and status) and the shared world.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from continuum.actors.continuum.actor import ContinuumActor
from continuum.actors.continuum.env import Collaborators, ContinuumEnvironment
from continuum.actors.mailbox import ReplyError
from continuum.messages.crd import Continuum
from tests.simulation.world import (
    REGIONS,
    Crash,
    NodeAudit,
    NodeCopies,
    NodeDns,
    NodeFinalizers,
    NodePair,
    NodeRoutes,
    NodeStatus,
    NodeWitness,
    SimWorld,
)

__all__ = ["ActorFailed", "SimNode"]

T = TypeVar("T")


class ActorFailed(Exception):
    """The actor raised something other than a reply error: in production its supervisor
    would restart it; in the simulation it is recorded as a finding."""


def _is_crash(exc: BaseException) -> bool:
    if isinstance(exc, Crash):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_is_crash(e) for e in exc.exceptions)
    return False


@dataclass
class _Timer:
    due: float
    seq: int
    message: msgspec.Struct
    every: float | None


class _SimReply:
    """``ActorContext.defer_reply``'s answer slot here: the asker's future."""

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    @property
    def settled(self) -> bool:
        return self._future.done()

    def resolve(self, value: object) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(error)


class _SimRef:
    def __init__(self, node: SimNode, incarnation: int) -> None:
        self._node, self._incarnation = node, incarnation

    async def ask(self, message: msgspec.Struct, *, timeout: float = 5.0) -> Any:
        self._node.check_alive(self._incarnation)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._node.mailbox.append((message, future))
        return await future

    async def tell(self, message: msgspec.Struct) -> None:
        self._node.check_alive(self._incarnation)
        self._node.mailbox.append((message, None))


class _SimContext:
    """What the actor sees as ``self.ctx`` (the subset of ``ActorContext`` it uses)."""

    def __init__(self, node: SimNode) -> None:
        self._node = node
        self._incarnation = node.incarnation
        self.ref = _SimRef(node, node.incarnation)

    @property
    def clock(self) -> Any:
        return self._node.world.clock

    def start_child(
        self,
        work: Callable[[], Awaitable[T]],
        *,
        on_result: Callable[[T], msgspec.Struct],
        on_error: Callable[[BaseException], msgspec.Struct],
        name: str = "",
    ) -> None:
        node, incarnation = self._node, self._incarnation

        async def body() -> None:
            try:
                result = await work()
            except BaseException as exc:
                if _is_crash(exc) or not node.alive(incarnation):
                    return
                if isinstance(exc, asyncio.CancelledError):
                    return
                node.mailbox.append((on_error(exc), None))
                return
            if node.alive(incarnation):
                node.mailbox.append((on_result(result), None))

        task = asyncio.get_running_loop().create_task(body(), name=name)
        node.tasks.add(task)
        task.add_done_callback(node.tasks.discard)

    def start_timer(
        self, key: str, delay: float, message: msgspec.Struct, *, repeat: bool = False
    ) -> None:
        node = self._node
        if not node.alive(self._incarnation):
            return
        due = node.world.clock.monotonic() + delay
        node.timers[key] = _Timer(due, node.world.next_seq(), message, delay if repeat else None)

    def cancel_timer(self, key: str) -> None:
        if self._node.alive(self._incarnation):
            self._node.timers.pop(key, None)

    def stop(self) -> None:
        self._node.stopping = True

    @property
    def handing_over(self) -> bool:
        return False  # one instance per region: nothing is handed to a peer

    def defer_reply(self) -> _SimReply:
        node = self._node
        if node.answering is None:
            node.answering = asyncio.get_running_loop().create_future()
        node.deferred = True
        node.replies.append(node.answering)
        return _SimReply(node.answering)


class SimNode:
    """One region's instance (see the module docstring)."""

    def __init__(self, world: SimWorld, region: str, *, health_delay: float = 30.0) -> None:
        self.world = world
        self.region = region
        self.incarnation = 0
        self.actor: ContinuumActor | None = None
        self.mailbox: deque[tuple[msgspec.Struct, asyncio.Future[Any] | None]] = deque()
        self.timers: dict[str, _Timer] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.crash_after_writes = 0
        self.kills = 0
        self.failures: list[str] = []
        self.health_delay = health_delay
        self.pending_down = 0.0
        self.deleted = False
        self.answering: asyncio.Future[Any] | None = None
        """The future of the ask being handled (``defer_reply`` answers through it)."""
        self.deferred = False
        """The message being handled deferred its reply."""
        self.replies: list[asyncio.Future[Any]] = []
        """Deferred replies not settled yet: a kill or a stop fails them."""

    # -- liveness ------------------------------------------------------------------------

    def alive(self, incarnation: int | None = None) -> bool:
        return self.actor is not None and (incarnation is None or incarnation == self.incarnation)

    def check_alive(self, incarnation: int) -> None:
        if not self.alive(incarnation):
            raise Crash(f"{self.region} incarnation {incarnation} is dead")

    def wrote(self) -> None:
        """A write of this instance landed; an armed crash fires after it."""
        if self.crash_after_writes > 0:
            self.crash_after_writes -= 1
            if self.crash_after_writes == 0:
                self.kill()
                raise Crash(f"{self.region} killed after a write")

    def kill(self) -> None:
        """kill -9: drop every in-memory thing; tasks of this incarnation die on their next
        touch of the world or of the actor."""
        if self.actor is None:
            return
        self.kills += 1
        self.actor = None
        self.incarnation += 1
        self.crash_after_writes = 0
        for future in [f for _, f in self.mailbox if f is not None] + self.replies:
            if not future.done():
                future.set_exception(Crash(f"{self.region} killed"))
        self.replies.clear()
        self.mailbox.clear()
        self.timers.clear()

    # -- life ----------------------------------------------------------------------------

    def environment(self) -> ContinuumEnvironment:
        world = self.world
        pair, dns = NodePair(world, self), NodeDns(world, self)
        routes = {region: NodeRoutes(world, self, region) for region in REGIONS}
        witness = NodeWitness(world, self)

        async def witness_for(cr: Continuum) -> NodeWitness:
            return witness

        return ContinuumEnvironment(
            region=self.region,
            clock=world.clock,
            status=NodeStatus(world, self),
            finalizers=NodeFinalizers(world, self),
            copies=NodeCopies(world, self),
            audit=NodeAudit(world, self),
            witness_for=witness_for,
            collaborators_for=lambda cr: Collaborators(
                pair=pair,
                routes=routes[self.region],
                region_routes=routes,
                dns=dns,
                verify_dns=dns.verify,
            ),
            health_delay_seconds=self.health_delay,
        )

    async def start(self) -> None:
        """A new process: a new actor from the region's CR as its API server has it."""
        if self.actor is not None:
            return
        api = self.world.api[self.region]
        cr = msgspec.structs.replace(api.cr, status=api.status)
        self.incarnation += 1
        self.stopping = False
        actor = ContinuumActor(cr, self.environment())
        actor.ctx = _SimContext(self)  # type: ignore[assignment]
        self.actor = actor
        await self._guard(actor.on_start())
        self._stopped_if_asked(actor)

    def _stopped_if_asked(self, actor: ContinuumActor) -> None:
        """The actor asked to stop (``ctx.stop()``) while handling what just ran."""
        if self.stopping and self.actor is actor:
            self.actor = None
            self.incarnation += 1
            self.timers.clear()
            # The mailbox is closed: what was queued is never handled (asks fail).
            for future in [f for _, f in self.mailbox if f is not None] + self.replies:
                if not future.done():
                    future.set_exception(Crash(f"{self.region} stopped"))
            self.replies.clear()
            self.mailbox.clear()

    async def _guard(self, work: Awaitable[Any]) -> Any:
        incarnation = self.incarnation
        try:
            return await work
        except BaseException as exc:
            if _is_crash(exc) or not self.alive(incarnation):
                self.kill() if self.alive(incarnation) else None
                return None
            if isinstance(exc, ReplyError):
                raise
            self.failures.append(f"{type(exc).__name__}: {exc}")
            self.kill()
            raise ActorFailed(f"{self.region}: {type(exc).__name__}: {exc}") from exc

    async def deliver_one(self) -> bool:
        """Handle the mailbox's first message; ``False`` when it was empty."""
        if self.actor is None or not self.mailbox:
            return False
        message, future = self.mailbox.popleft()
        actor = self.actor
        self.answering, self.deferred = future, False
        try:
            result = await self._guard(actor.on_message(message))
        except ReplyError as exc:
            if future is not None and not future.done():
                future.set_exception(exc)
            return True
        finally:
            self.answering = None
        self.replies = [f for f in self.replies if not f.done()]
        if future is not None and not future.done() and not self.deferred:
            if self.alive():
                future.set_result(result)
            else:
                future.set_exception(Crash(f"{self.region} killed"))
        self._stopped_if_asked(actor)
        return True

    async def ask(self, message: msgspec.Struct) -> Any:
        """An API request handled at once (the simulator's operator). Raises the refusal.
        A reply the actor deferred comes back as the future it will settle: the caller
        delivers the mailbox until it is done."""
        if self.actor is None:
            return None
        self.answering, self.deferred = None, False
        try:
            result = await self._guard(self.actor.on_message(message))
        finally:
            answering, self.answering = self.answering, None
        if self.deferred and answering is not None:
            return answering
        return result

    def next_timer(self) -> _Timer | None:
        if self.actor is None or not self.timers:
            return None
        return min(self.timers.values(), key=lambda t: (t.due, t.seq))

    def due_timers(self, now: float) -> list[_Timer]:
        """The timers due by ``now`` (none for a dead instance)."""
        if self.actor is None:
            return []
        return [t for t in self.timers.values() if t.due <= now]

    def fire(self, timer: _Timer) -> None:
        """Deliver ``timer``'s message (the clock is at or past its due time). A repeating
        timer is re-armed as ``TimerQueue`` does (``continuum/actors/timers.py``): its next
        deadline is the previous one plus its period, and one already in the past is
        skipped (next = now + period), never bunched."""
        for key, value in list(self.timers.items()):
            if value is timer:
                if timer.every is None:
                    del self.timers[key]
                else:
                    now = self.world.clock.monotonic()
                    due = timer.due + timer.every
                    if due <= now:
                        due = now + timer.every
                    self.timers[key] = _Timer(
                        due, self.world.next_seq(), timer.message, timer.every
                    )
        self.mailbox.append((timer.message, None))
