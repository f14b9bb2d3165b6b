"""Async-context-manager mixins, so a resource states its close (or start/stop) once.

``AsyncClosing``: ``async with resource:`` returns the resource and awaits its ``aclose()`` on
the way out, whatever the outcome. ``AsyncStartStop``: ``async with service:`` awaits
``start()`` on the way in and ``stop()`` on the way out. Neither suppresses the exception that
left the block, nor adds anything else to what the subclass's methods do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing", "AsyncStartStop"]


class AsyncClosing(ABC):
    """``__aenter__`` returns ``self``; ``__aexit__`` awaits :meth:`aclose`."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release what the object holds."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncStartStop(ABC):
    """``__aenter__`` awaits :meth:`start` and returns ``self``; ``__aexit__`` awaits :meth:`stop`.

    When ``start`` raises, ``stop`` is not called by the mixin: ``start`` cleans up after itself.
    """

    @abstractmethod
    async def start(self) -> None:
        """Bring the service up; return once it serves."""

    @abstractmethod
    async def stop(self) -> None:
        """Bring the service down; idempotent."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
