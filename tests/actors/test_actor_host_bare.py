"""``ActorHost.start_bare``: a host task without task-group bookkeeping (a plain asyncio task;
``start_soon`` on trio). Leaving the host waits for it, cancelling the host's owner does not
cancel it, and an exception it raises is logged without tearing the host down."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from continuum.actors.host import ActorHost
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


async def test_leaving_the_host_waits_for_a_bare_task(fake_clock: FakeClock) -> None:
    done: list[str] = []

    async def work() -> None:
        await fake_clock.sleep(5)
        done.append("work")

    async with anyio.create_task_group() as tg:

        async def owner() -> None:
            async with ActorHost() as host:
                host.start_bare(work, name="work")
            done.append("host left")

        tg.start_soon(owner)
        await anyio.wait_all_tasks_blocked()
        assert done == []
        await fake_clock.advance_settled(5)
    assert done == ["work", "host left"]


async def test_cancelling_the_owner_does_not_cancel_a_bare_task(fake_clock: FakeClock) -> None:
    done: list[str] = []

    async def work() -> None:
        await fake_clock.sleep(5)
        done.append("work")

    async with anyio.create_task_group() as tg:

        async def owner() -> None:
            with anyio.CancelScope() as scope:
                async with ActorHost() as host:
                    host.start_bare(work, name="work")
                    scope.cancel()
                    await anyio.sleep_forever()  # the owner is cancelled here
            done.append("owner out")

        tg.start_soon(owner)
        await anyio.wait_all_tasks_blocked()
        assert done == []  # leaving the host waits for the bare task, which still runs
        await fake_clock.advance_settled(5)
    assert done == ["work", "owner out"]


async def test_a_bare_task_has_its_own_cancel_scopes(fake_clock: FakeClock) -> None:
    outcome: list[str] = []

    async def work() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await anyio.sleep_forever()
        outcome.append("cancelled" if scope.cancelled_caught else "not cancelled")

    async with ActorHost() as host:
        host.start_bare(work, name="work")
    assert outcome == ["cancelled"]


async def test_a_failing_bare_task_is_logged_and_the_host_goes_on(
    fake_clock: FakeClock, anyio_backend: str, runtime_logs: list[dict[str, Any]]
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("elsewhere a bare task is a task-group task (its error ends the host)")
    done: list[str] = []

    async def fail() -> None:
        raise RuntimeError("boom")

    async def work() -> None:
        await anyio.lowlevel.checkpoint()
        done.append("work")

    async with ActorHost() as host:
        host.start_bare(fail, name="fail")
        await anyio.wait_all_tasks_blocked()
        host.start_bare(work, name="work")
    assert done == ["work"]
    assert [(e["event"], e["task"]) for e in runtime_logs if e["event"] == "bare_task_failed"] == [
        ("bare_task_failed", "fail")
    ]


async def test_start_bare_needs_an_entered_host() -> None:
    async def work() -> None:
        pass

    with pytest.raises(RuntimeError, match="not entered"):
        ActorHost().start_bare(work, name="work")
