"""One_for_one supervision of actors by key, OTP-style, on the injected clock.

A crashed actor is restarted alone, with a new instance from its factory, after a backoff.
More than ``intensity`` restarts of one key within ``period`` seconds escalate: every actor is
stopped and :class:`SupervisorEscalation` leaves the ``async with`` (the process then exits
non-zero and Kubernetes restarts it). Shutdown stops every actor at once (they are
independent: one per key), so it ends within one ``shutdown_timeout`` whatever their number
(stragglers are killed), shielded. ``docs/actors.md`` states the semantics in one page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from types import TracebackType

import anyio
import structlog

from continuum.actors.cell import ActorCell
from continuum.actors.host import ActorHost
from continuum.actors.mailbox import describe
from continuum.actors.runtime import Actor, ActorRef
from continuum.actors.timers import ACTOR_TIMER_GRID
from continuum.errors import ContinuumError
from continuum.ports import Clock
from continuum.supervisor.registry import Registry

log = structlog.get_logger("continuum.supervisor")


class SupervisorEscalation(ContinuumError):
    """An actor exceeded its restart budget. ``__cause__`` is its last crash."""

    def __init__(self, key: str, *, crashes: int, period: float) -> None:
        self.key = key
        self.crashes = crashes
        self.period = period
        super().__init__(f"actor {key!r} crashed {crashes} times within {period}s; giving up")


class SupervisorClosed(ContinuumError):
    """``spawn`` after the supervisor began shutting down (or escalating)."""


class _Child:
    """Bookkeeping for one key: its factory, current incarnation, recent crash times."""

    __slots__ = (
        "_changed",
        "cell",
        "crash_times",
        "factory",
        "key",
        "restarts",
        "scope",
        "stopping",
    )

    def __init__(self, key: str, factory: Callable[[], Actor], cell: ActorCell) -> None:
        self.key = key
        self.factory = factory
        self.cell = cell
        self.restarts = 0
        self.stopping = False
        # Cancelled by stop: ends a restart backoff. The running cell is shielded from it.
        self.scope = anyio.CancelScope()
        self.crash_times: deque[float] | None = None
        self._changed: anyio.Event | None = None

    async def wait_changed(self) -> None:
        """Wait for the next incarnation or for the end of supervision of this key."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    def notify_changed(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class Supervisor:
    """Spawns, stops and restarts actors by key (``namespace/name``); one_for_one.

    Use as ``async with Supervisor(clock=...) as sup:``. ``registry`` maps every key to its
    current incarnation's ref; refs are per incarnation (a restart makes a new ref; the old
    one raises ``ActorDead``), so look keys up on each use. All times are ``clock`` seconds.
    ``timer_grid``: the actors' timers fire on this grid (seconds; 0 = exact deadlines; see
    :mod:`continuum.actors.timers`).
    """

    def __init__(
        self,
        *,
        clock: Clock,
        intensity: int = 5,
        period: float = 30.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        shutdown_timeout: float = 10.0,
        timer_grid: float = ACTOR_TIMER_GRID,
    ) -> None:
        if intensity < 0 or period <= 0 or backoff_initial < 0 or backoff_max < backoff_initial:
            raise ValueError("invalid restart budget or backoff")
        if shutdown_timeout <= 0:
            raise ValueError("shutdown_timeout must be positive")
        self.registry = Registry()
        self._clock = clock
        self._intensity = intensity
        self._period = period
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._shutdown_timeout = shutdown_timeout
        self._timer_grid = timer_grid
        self._children: dict[str, _Child] = {}
        self._host: ActorHost | None = None
        self._body: anyio.CancelScope | None = None
        self._closing = False
        self._escalation: SupervisorEscalation | None = None

    async def __aenter__(self) -> Supervisor:
        if self._host is not None:
            raise RuntimeError("a Supervisor can be entered once")
        host = ActorHost(timer_grid=self._timer_grid)
        await host.__aenter__()
        self._host = host
        # Escalation cancels this scope: the block stops at its next checkpoint.
        self._body = anyio.CancelScope()
        self._body.__enter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Stop every actor at once — each is asked to stop, and killed if it has not ended
        within ``shutdown_timeout`` — so the whole shutdown takes one bound, not one per actor
        (a SIGTERM must end within the pod's grace period with 10,000 actors as with one);
        shielded from any number of cancellations. Then raise :class:`SupervisorEscalation`
        if the budget was exceeded. Exceptions of the block propagate unchanged."""
        assert self._host is not None
        assert self._body is not None
        self._closing = True
        swallowed = self._body.__exit__(exc_type, exc, tb)
        try:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as stopping:
                    for child in reversed(list(self._children.values())):
                        stopping.start_soon(self._stop_child, child)
        finally:
            await self._host.__aexit__(None, None, None)
        if self._escalation is not None:
            raise self._escalation
        return bool(swallowed)

    async def spawn(self, key: str, factory: Callable[[], Actor]) -> ActorRef:
        """Start an actor under ``key`` from ``factory()`` and return its ref.

        Idempotent: for a key with a live actor, returns that actor's ref (``factory`` is not
        called). If the key's actor is between incarnations (restart backoff, or stopping),
        waits for the successor (or for the end, then spawns anew). The ref is usable at
        once; messages wait in the mailbox until ``on_start`` has finished. ``factory``'s own
        exceptions propagate. Raises :class:`SupervisorClosed` once shutdown has begun.
        """
        while True:
            self._check_open()
            child = self._children.get(key)
            if child is None:
                break
            if not child.stopping and child.cell.ref.alive:
                return child.cell.ref
            await child.wait_changed()
        self._check_open()
        assert self._host is not None
        cell = ActorCell(factory(), name=key, clock=self._clock, host=self._host)
        child = _Child(key, factory, cell)
        self._children[key] = child
        self.registry.bind(key, cell.ref)
        self._host.start_soon(self._supervise, child, name=f"actor:{key}")
        log.debug("actor_spawned", actor=key)
        return cell.ref

    async def stop(self, key: str, *, handing_over: bool = False) -> None:
        """Stop ``key``'s actor gracefully (``on_stop(None)`` runs) and forget it; it is not
        restarted. Killed past ``shutdown_timeout``. Shielded: a cancelled caller does not cut
        the stop short. An unknown key is a no-op. Never call it from the actor itself (use
        ``ctx.stop()``): it would wait for itself. ``handing_over``: another instance will
        run ``key`` once this returns (``ActorContext.handing_over``)."""
        child = self._children.get(key)
        if child is not None:
            with anyio.CancelScope(shield=True):
                await self._stop_child(child, handing_over=handing_over)

    # --- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._host is None:
            raise SupervisorClosed("the supervisor is not running (use `async with`)")
        if self._closing:
            raise SupervisorClosed("the supervisor is shutting down")

    async def _stop_child(self, child: _Child, *, handing_over: bool = False) -> None:
        child.stopping = True
        child.scope.cancel()
        await child.cell.stop_within(self._shutdown_timeout, handing_over=handing_over)
        self._forget(child)

    def _forget(self, child: _Child) -> None:
        if self._children.get(child.key) is child:
            del self._children[child.key]
        self.registry.unbind(child.key, child.cell.ref)
        child.notify_changed()

    def _giving_up(self, child: _Child) -> bool:
        return child.stopping or self._closing

    async def _supervise(self, child: _Child) -> None:
        """Run ``child``'s incarnations until it stops, is stopped, or escalates."""
        try:
            with child.scope:
                error = await child.cell.run()
                while error is not None and not self._giving_up(child):
                    if not self._within_budget(child):
                        self._escalate(child, error)
                        return
                    delay = self._backoff(child)
                    log.warning(
                        "actor_restarting", actor=child.key, error=describe(error), backoff=delay
                    )
                    await self._clock.sleep(delay)
                    if self._giving_up(child):
                        return
                    try:
                        actor = child.factory()
                    except Exception as exc:
                        error = exc
                        child.cell.last_error = describe(exc)
                        continue
                    child.restarts += 1
                    child.cell = ActorCell(
                        actor,
                        name=child.key,
                        clock=self._clock,
                        host=child.cell.host,
                        restarts=child.restarts,
                        last_error=child.cell.last_error,
                    )
                    self.registry.bind(child.key, child.cell.ref)
                    child.notify_changed()
                    error = await child.cell.run()
        finally:
            self._forget(child)

    def _within_budget(self, child: _Child) -> bool:
        """Record a crash now; True while restarts within ``period`` stay <= ``intensity``."""
        now = self._clock.monotonic()
        if child.crash_times is None:
            child.crash_times = deque()
        times = child.crash_times
        times.append(now)
        while times[0] <= now - self._period:
            times.popleft()
        return len(times) <= self._intensity

    def _backoff(self, child: _Child) -> float:
        """``backoff_initial`` doubled per recent crash, capped at ``backoff_max``."""
        recent = len(child.crash_times or ())
        return min(self._backoff_initial * 2.0 ** max(recent - 1, 0), self._backoff_max)

    def _escalate(self, child: _Child, error: BaseException) -> None:
        crashes = len(child.crash_times or ())
        escalation = SupervisorEscalation(child.key, crashes=crashes, period=self._period)
        escalation.__cause__ = error
        self._escalation = escalation
        self._closing = True
        log.error("supervisor_escalating", actor=child.key, crashes=crashes, period=self._period)
        if self._body is not None:
            self._body.cancel()
