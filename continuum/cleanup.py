"""Cleanup that finishes even while its caller is being cancelled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

__all__ = ["shielded"]


def shielded(close: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """``close`` wrapped so it runs to completion even when the caller is being cancelled
    (the usual way a controller or the demo stops), so no connection is left open. Use it
    for exit-stack callbacks that only close clients; never around code that enters or exits
    task groups or cancel scopes."""

    async def run() -> None:
        with anyio.CancelScope(shield=True):
            await close()

    return run
