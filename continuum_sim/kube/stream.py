"""The HTTP side of a watch: a chunked stream of JSON lines, one event per line.

The stream ends cleanly when ``timeoutSeconds`` (emulator clock) runs out, and is cut
(the connection aborted, as a crashed API server or a load balancer would) when the watch
is killed. With ``allowWatchBookmarks`` a ``BOOKMARK`` event carrying the current
resourceVersion is sent every ``bookmark_interval`` seconds and on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from continuum.ports import Clock
from continuum_sim.kube.resources import ResourceType
from continuum_sim.kube.watch import Watcher

_encoder = msgspec.json.Encoder()


def bookmark(rt: ResourceType, resource_version: int) -> dict[str, Any]:
    """A BOOKMARK event: an object of the watched kind carrying only a resourceVersion."""
    return {
        "type": "BOOKMARK",
        "object": {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(resource_version)},
        },
    }


def _encode(rt: ResourceType, event: dict[str, Any]) -> bytes:
    obj = event["object"]
    if (
        event["type"] in ("ADDED", "MODIFIED", "DELETED")
        and obj.get("apiVersion") != rt.api_version
    ):
        event = {"type": event["type"], "object": {**obj, "apiVersion": rt.api_version}}
    return _encoder.encode(event) + b"\n"


async def stream_watch(
    request: web.Request,
    *,
    rt: ResourceType,
    watcher: Watcher,
    clock: Clock,
    timeout: float,
    bookmarks: bool,
    bookmark_interval: float,
    current_rv: Callable[[], int],
) -> web.StreamResponse:
    """Serve ``watcher`` on ``request`` until it closes or ``timeout`` passes."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)

    async def expire() -> None:
        await clock.sleep(timeout)
        watcher.close()

    async def tick() -> None:
        while True:
            await clock.sleep(bookmark_interval)
            watcher.push(bookmark(rt, current_rv()))

    helpers = [asyncio.ensure_future(expire())]
    if bookmarks:
        helpers.append(asyncio.ensure_future(tick()))
    watcher.bookmark = (lambda: watcher.push(bookmark(rt, current_rv()))) if bookmarks else None
    try:
        while True:
            event = await watcher.get()
            chunk = bytearray()
            while event is not None:
                chunk += _encode(rt, event)
                event = watcher.get_nowait()
            if chunk:
                await response.write(bytes(chunk))
            if watcher.closed and watcher.backlog == 0:
                break
        if watcher.abort:
            if request.transport is not None:
                request.transport.abort()
        else:
            await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        for helper in helpers:
            helper.cancel()
        for helper in helpers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await helper
    return response
