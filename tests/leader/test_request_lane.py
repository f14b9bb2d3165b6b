"""The request lane (continuum.leader.request_lane): coroutines run on a thread and loop of
their own, results and exceptions come back, cancelling the caller cancels them there.

Real threads, no timers: every wait is on an event, bounded only as a guard."""

from __future__ import annotations

import asyncio
import threading

import anyio
import anyio.to_thread
import pytest
from kubernetes_asyncio import client as k8s

from continuum.leader.request_lane import RequestLane

pytestmark = pytest.mark.anyio

GUARD = 10.0
"""Seconds an event wait may take before the test fails (never reached when it passes)."""


def configuration() -> k8s.Configuration:
    conf = k8s.Configuration()
    conf.host = "http://127.0.0.1:1"
    return conf


async def test_a_call_runs_on_the_lane_thread_with_the_lane_client() -> None:
    async with RequestLane(configuration(), name="lane-test") as lane:

        async def where(api: k8s.ApiClient) -> tuple[str, str, bool]:
            running = asyncio.get_running_loop()
            return threading.current_thread().name, api.configuration.host, running.is_running()

        name, host, running = await lane.call(where)
    assert (name, host, running) == ("lane-test", "http://127.0.0.1:1", True)
    assert not [t for t in threading.enumerate() if t.name == "lane-test"]  # joined on exit


async def test_an_exception_on_the_lane_reaches_the_caller() -> None:
    async with RequestLane(configuration()) as lane:

        async def fail(api: k8s.ApiClient) -> None:
            raise ConnectionResetError("gone")

        with pytest.raises(ConnectionResetError, match="gone"):
            await lane.call(fail)


async def test_cancelling_the_caller_cancels_the_call_on_the_lane() -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def forever(api: k8s.ApiClient) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with RequestLane(configuration()) as lane, anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def caller() -> None:
            with scope:
                await lane.call(forever)

        tg.start_soon(caller)
        assert await anyio.to_thread.run_sync(started.wait, GUARD)
        scope.cancel()
        assert await anyio.to_thread.run_sync(cancelled.wait, GUARD)


async def test_a_call_outside_the_block_is_refused() -> None:
    lane = RequestLane(configuration())

    async def nothing(api: k8s.ApiClient) -> None:
        return None

    with pytest.raises(RuntimeError, match="not running"):
        await lane.call(nothing)
    async with lane:
        await lane.call(nothing)
    with pytest.raises(RuntimeError, match="not running"):
        await lane.call(nothing)
