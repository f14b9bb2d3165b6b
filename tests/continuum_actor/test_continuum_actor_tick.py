"""One tick per actor: the repeating ``RenewDue(observe=True)`` refreshes the lease, then
observes the world (once the refresh is over), so a controller with N Continuums runs N
repeating timers, not 2N; an observation with nothing to read starts no task."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from continuum.actors.continuum.env import Collaborators
from continuum.actors.continuum.messages import RenewDue
from continuum.clock import FakeClock
from tests.continuum_actor.harness import B, Harness

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


class SpyContext:
    """The actor's context, recording the timers it arms and the child tasks it starts."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.timers: list[tuple[str, object, bool]] = []
        self.children: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def start_timer(self, key: str, delay: float, message: Any, *, repeat: bool = False) -> None:
        self.timers.append((key, message, repeat))
        self._inner.start_timer(key, delay, message, repeat=repeat)

    def start_child(self, work: Callable[[], Awaitable[Any]], **kwargs: Any) -> None:
        self.children.append(kwargs.get("name", ""))
        self._inner.start_child(work, **kwargs)


async def test_one_repeating_timer_renews_then_observes(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(0)
        spy = actor.ctx = SpyContext(actor.ctx)  # type: ignore[assignment]
        actor.start_timers()
        assert [(k, m) for k, m, repeat in spy.timers if repeat] == [
            ("renew", RenewDue(observe=True))
        ]
        await h.clock.advance_settled(30)
        assert actor.observing.seq == 3  # every tick observed
        assert actor.acting()  # and renewed


async def test_an_observation_with_nothing_to_read_starts_no_task(h: Harness) -> None:
    """A standby with no pair configured that knows no live holder (the lease is free and
    not its to claim) has nothing to read: the observation is taken at once, in the
    mailbox, and no child task is started for it."""
    async with h.actor(region=B, collaborators_for=lambda cr: Collaborators()) as (_, actor):
        await h.clock.advance_settled(0)
        spy = actor.ctx = SpyContext(actor.ctx)  # type: ignore[assignment]
        await h.clock.advance_settled(10)
        assert actor.observing.seq == 1  # the tick observed...
        assert not actor.observing.busy  # ...and the observation is over...
        assert "observe" not in spy.children  # ...without a task
