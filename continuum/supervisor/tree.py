"""The supervision tree: ordered children, started in order and stopped in reverse.

OTP-shaped and visible in one place (``continuum.controller`` builds the controller's tree;
``docs/architecture.md`` draws it). A child is an async context manager: entering it starts
the child (it returns once the child is ready), leaving it stops the child. Each
:class:`Child` also states its restart policy — who restarts it, how often, and what happens
past its budget — so the tree's :meth:`SupervisionTree.describe` is the one place that says
how the process behaves when a part of it crashes.

Guarantees: children start strictly in order, each only after the previous one is ready; if
a start fails, the children already started are stopped in reverse and the error propagates;
on exit (normal, error or cancellation) every started child is stopped in reverse order (each
child shields its own stop from further cancellation). Never restarts anything itself: a restartable
child carries its own restart loop (its ``restart`` text says which), so a crash of one child
never restarts its siblings (one_for_one) and an exhausted budget escalates as an exception
out of the tree, which ends the process non-zero so that Kubernetes restarts it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import anyio
import structlog

__all__ = ["Child", "SupervisionTree", "running"]

log = structlog.get_logger("continuum.supervisor")

Restart = Literal["permanent", "transient", "temporary"]


@dataclass(frozen=True, kw_only=True)
class Child:
    """One child of a :class:`SupervisionTree`.

    ``start()`` returns the context manager that runs the child for as long as it is
    entered; its value is available as ``tree[name]``. ``restart`` is the OTP restart type
    (``permanent``: always replaced when it crashes, within its budget; ``temporary``: never
    restarted, its end ends the tree). ``budget`` says who restarts it and how often
    (``"5 in 30s, then escalate"``); ``children`` names the sub-tree it supervises, if any.
    """

    name: str
    start: Callable[[], AbstractAsyncContextManager[Any]]
    restart: Restart = "permanent"
    budget: str = ""
    children: tuple[str, ...] = field(default=())


class SupervisionTree:
    """Ordered children as one async context manager (see the module docstring)."""

    def __init__(self, name: str, children: Sequence[Child]) -> None:
        names = [c.name for c in children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in {name}: {names}")
        self.name = name
        self.children = tuple(children)
        self.started: list[str] = []
        self._values: dict[str, Any] = {}
        self._stack: AsyncExitStack | None = None

    def __getitem__(self, name: str) -> Any:
        """The value the child ``name`` yielded when it started."""
        return self._values[name]

    def describe(self) -> list[str]:
        """One line per child, in start order: name, restart type, budget, sub-tree."""
        lines = []
        for n, child in enumerate(self.children, 1):
            line = f"{n}. {child.name} ({child.restart}"
            line += f"; {child.budget})" if child.budget else ")"
            if child.children:
                line += " → " + ", ".join(child.children)
            lines.append(line)
        return lines

    async def __aenter__(self) -> SupervisionTree:
        if self._stack is not None:
            raise RuntimeError("a SupervisionTree can be entered once")
        stack = AsyncExitStack()
        self._stack = stack
        await stack.__aenter__()
        try:
            for child in self.children:
                # Registered first so that it runs after the child's own stop.
                stack.callback(self._stopped, child.name)
                self._values[child.name] = await stack.enter_async_context(child.start())
                self.started.append(child.name)
                log.info("supervisor_child_started", tree=self.name, child=child.name)
        except BaseException as exc:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Stop every started child in reverse order. Not wrapped in a shield of its own:
        the children's cancel scopes were entered outside it, so each child shields its own
        stop (the actor supervisor, the audit publisher's flush, the leader's release)."""
        assert self._stack is not None
        return bool(await self._stack.__aexit__(exc_type, exc, tb))

    def _stopped(self, name: str) -> None:
        if name in self.started:
            self.started.remove(name)
            log.info("supervisor_child_stopped", tree=self.name, child=name)


@asynccontextmanager
async def running(*tasks: Callable[[], Coroutine[Any, Any, object]]) -> AsyncIterator[None]:
    """Run ``tasks`` in the background for the block (a child that is a server or a loop);
    cancel them on exit. An exception of the block (e.g. ``LeadershipLost`` from a later
    sibling) propagates as itself, not wrapped in an exception group; a task that fails
    cancels the block and its error propagates (in a group)."""
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        for task in tasks:
            tg.start_soon(task)
        try:
            yield
        except Exception as exc:
            # Re-raised below, outside the task group, so it is not wrapped in a group.
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
