"""A request lane: a thread with an event loop and a Kubernetes client of its own, on which
the shard membership's requests run (``docs/decisions.md`` #23, ``docs/sharding.md``).

Why: a replica that joins a shard group starts thousands of actors and follows every CR
event of its region; its event loop then takes hundreds of milliseconds per iteration, and
a request made *on* that loop needs one iteration for each of its steps (take a connection,
write, read the status line, the headers, the body, release). Measured at 5,000 CRs over
4 replicas (``bench/shard.py --probe``): the emulator answered every Lease request in under
13 ms, while the same requests took up to 5.2 s on the replicas, whose loops lagged up to
3.3 s. On the lane the request's steps run on a loop that has nothing else to do; the
caller's loop is needed once, to take the answer. The lane's thread still needs the GIL:
the interpreter hands it over every switch interval (5 ms) while the main thread runs
Python code, and a garbage collection stops both (``continuum.heap`` keeps those short).

Only the request runs on the lane; the caller keeps its state, clock and decisions on its
own loop. Cancelling the caller cancels the request on the lane (the answer, if any, is
dropped). asyncio only (the caller awaits an asyncio future), as the Kubernetes client is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

import anyio
import anyio.to_thread
from kubernetes_asyncio import client as k8s

__all__ = ["RequestLane"]

T = TypeVar("T")


class RequestLane:
    """Run coroutines that take a :class:`k8s.ApiClient` on a thread of their own.

    ``async with RequestLane(configuration) as lane:`` starts the thread, its loop and a
    client for ``configuration`` (made on that loop, so its connection pool belongs to it);
    on exit the client is closed on its loop, the loop stops and the thread is joined.
    :meth:`call` raises ``RuntimeError`` outside the block."""

    def __init__(self, configuration: k8s.Configuration, *, name: str = "request-lane") -> None:
        self._configuration = configuration
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: k8s.ApiClient | None = None

    async def __aenter__(self) -> RequestLane:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def make() -> k8s.ApiClient:
            return k8s.ApiClient(configuration=self._configuration)

        self._api = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, thread, api = self._loop, self._thread, self._api
        self._loop = self._thread = self._api = None
        if loop is None or thread is None:
            return
        with anyio.CancelScope(shield=True):  # also when the caller is being cancelled
            try:
                if api is not None:
                    closing = asyncio.run_coroutine_threadsafe(api.close(), loop)
                    await asyncio.wrap_future(closing)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                await anyio.to_thread.run_sync(thread.join)
                loop.close()

    async def call(self, fn: Callable[[k8s.ApiClient], Awaitable[T]]) -> T:
        """``await fn(client)`` on the lane, for the caller: its result or its exception.
        Cancelling the caller cancels it on the lane."""
        loop, api = self._loop, self._api
        if loop is None or api is None:
            raise RuntimeError("the request lane is not running")

        async def run() -> T:
            return await fn(api)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(run(), loop))
