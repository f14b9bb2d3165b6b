"""The host's timer queue: every actor's timers served by one task (continuum.actors.timers).

The per-actor semantics (delays, repeats, replacement, cancel, skipped ticks behind a full
mailbox) are specified through ``ActorContext.start_timer`` in test_actor_timers_children.py;
these cases pin what the queue adds: one task for many timers, none when there are none, and a
full mailbox that delays only its own timer.
"""

from __future__ import annotations

import anyio
import msgspec
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from continuum.actors.host import ActorHost
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Tick(msgspec.Struct, frozen=True):
    label: str


def drain(receive: MemoryObjectReceiveStream[object]) -> list[object]:
    got: list[object] = []
    while True:
        try:
            got.append(receive.receive_nowait())
        except anyio.WouldBlock:
            return got


async def test_a_thousand_repeating_timers_share_one_sleeping_task(fake_clock: FakeClock) -> None:
    async with ActorHost() as host:
        queue = host.timer_queue(fake_clock)
        send, receive = anyio.create_memory_object_stream[object](4_000)
        timers = [
            queue.start(send, delay=10, message=Tick(str(i)), repeat=True) for i in range(1_000)
        ]
        await anyio.wait_all_tasks_blocked()
        assert fake_clock.pending == 1  # one sleeper for all of them
        await fake_clock.advance_settled(30)
        assert len(drain(receive)) == 3_000
        for timer in timers:
            timer.cancel()
        await anyio.wait_all_tasks_blocked()
        assert queue.live == 0
        assert fake_clock.pending == 0  # the serving task ended with the last timer
        send.close()
        receive.close()


async def test_an_earlier_timer_wakes_the_queue_sleeping_on_a_later_one(
    fake_clock: FakeClock,
) -> None:
    async with ActorHost() as host:
        queue = host.timer_queue(fake_clock)
        send, receive = anyio.create_memory_object_stream[object](10)
        late = queue.start(send, delay=100, message=Tick("late"), repeat=False)
        await anyio.wait_all_tasks_blocked()
        queue.start(send, delay=5, message=Tick("early"), repeat=False)
        await fake_clock.advance_settled(5)
        assert drain(receive) == [Tick("early")]
        late.cancel()
        await anyio.wait_all_tasks_blocked()
        assert fake_clock.pending == 0
        send.close()
        receive.close()


async def test_a_full_mailbox_delays_its_own_timer_only(fake_clock: FakeClock) -> None:
    async with ActorHost() as host:
        queue = host.timer_queue(fake_clock)
        full_send, full_receive = anyio.create_memory_object_stream[object](1)
        free_send, free_receive = anyio.create_memory_object_stream[object](10)
        full_send.send_nowait(Tick("occupying"))
        stuck = queue.start(full_send, delay=10, message=Tick("stuck"), repeat=True)
        free = queue.start(free_send, delay=10, message=Tick("free"), repeat=True)
        try:
            await fake_clock.advance_settled(30)
            assert drain(free_receive) == [Tick("free")] * 3  # on time at 10, 20 and 30
            # Room at last: the tick waiting since 10 goes in (once; 20 and 30 are skipped).
            assert drain(full_receive) == [Tick("occupying"), Tick("stuck")]
        finally:
            stuck.cancel()
            free.cancel()
        await anyio.wait_all_tasks_blocked()
        assert queue.live == 0
        for stream in (full_send, full_receive, free_send, free_receive):
            stream.close()


async def test_a_closed_mailbox_ends_its_timer(fake_clock: FakeClock) -> None:
    async with ActorHost() as host:
        queue = host.timer_queue(fake_clock)
        send, receive = anyio.create_memory_object_stream[object](1)
        queue.start(send, delay=10, message=Tick("r"), repeat=True)
        receive.close()
        await fake_clock.advance_settled(10)
        assert queue.live == 0
        assert fake_clock.pending == 0
        send.close()
