"""Watch events, the bounded event history, and one watcher's filtered queue.

Semantics follow the API server's watch cache: an object that starts matching a watcher's
selectors arrives as ``ADDED``, one that stops matching as ``DELETED``; a resume from a
``resourceVersion`` older than the retained history gets a single ``ERROR`` event carrying
a 410 ``Expired`` Status, after which the watch ends.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from continuum_sim.kube.resources import GroupResource
from continuum_sim.kube.selectors import ObjectFilter
from continuum_sim.kube.status import status_body


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One committed change. ``object`` is the new state (for DELETED: the last state,
    stamped with the deletion's resourceVersion); ``old`` the state before, if any."""

    type: str
    object: dict[str, Any]
    old: dict[str, Any] | None
    rv: int
    group_resource: GroupResource


class EventHistory:
    """The last ``limit`` events of one resource, and the newest revision no longer held."""

    def __init__(self, limit: int) -> None:
        self._events: deque[WatchEvent] = deque()
        self._limit = limit
        self.floor = 0

    def append(self, event: WatchEvent) -> None:
        self._events.append(event)
        while len(self._events) > self._limit:
            self.floor = self._events.popleft().rv

    def since(self, rv: int) -> Iterable[WatchEvent]:
        """Events newer than ``rv``, oldest first."""
        return (e for e in self._events if e.rv > rv)

    def compact(self, rv: int) -> None:
        """Forget everything up to and including ``rv`` (as etcd compaction does)."""
        while self._events and self._events[0].rv <= rv:
            self._events.popleft()
        self.floor = max(self.floor, rv)


def expired_event(requested: int, oldest: int) -> dict[str, Any]:
    """The ERROR event a too-old resume gets (kubernetes-asyncio raises ApiException 410)."""
    body = status_body(410, f"too old resource version: {requested} ({oldest})", reason="Expired")
    return {"type": "ERROR", "object": body}


class Watcher:
    """A queue of ``{"type", "object"}`` events for one watch, filtered by its selectors.

    ``None`` from :meth:`get` means the watch is over (closed by the server, a kill, or an
    expiry). Iterating yields events until then.
    """

    def __init__(self, group_resource: GroupResource, matches: ObjectFilter) -> None:
        self.group_resource = group_resource
        self._matches = matches
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closed = False
        self.abort = False
        self.bookmark: Callable[[], None] | None = None
        """Set by the HTTP layer when the client allowed bookmarks: sends one now."""

    def offer(self, event: WatchEvent) -> None:
        """Queue ``event`` as this watcher sees it through its selectors (maybe not at all)."""
        if self.closed:
            return
        now = event.type != "DELETED" and self._matches(event.object)
        before = event.old is not None and self._matches(event.old)
        if event.type == "DELETED":
            kind = "DELETED" if before else None
        elif event.type == "ADDED":
            kind = "ADDED" if now else None
        elif now:
            kind = "MODIFIED" if before else "ADDED"
        else:
            kind = "DELETED" if before else None
        if kind is not None:
            self._queue.put_nowait({"type": kind, "object": event.object})

    def push(self, event: dict[str, Any]) -> None:
        """Queue a raw event (initial ADDED, BOOKMARK, ERROR) unfiltered."""
        if not self.closed:
            self._queue.put_nowait(event)

    def close(self, *, abort: bool = False) -> None:
        """End the watch after the events already queued; ``abort`` asks the HTTP layer to
        drop the connection instead of ending the stream cleanly."""
        if not self.closed:
            self.closed = True
            self.abort = abort
            self._queue.put_nowait(None)

    @property
    def backlog(self) -> int:
        """Events queued and not yet consumed."""
        return self._queue.qsize()

    async def get(self) -> dict[str, Any] | None:
        """The next event; ``None`` once the watch is over."""
        return await self._queue.get()

    def get_nowait(self) -> dict[str, Any] | None:
        """The next event if one is queued, else ``None``."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event
