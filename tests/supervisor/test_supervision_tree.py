"""The supervision tree: children start in order and stop in reverse, a failed start stops
what was started, and the controller's tree has the documented shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.config import Settings
from continuum.controller import controller_tree
from continuum.http.readiness import Readiness
from continuum.supervisor.tree import Child, SupervisionTree, running

pytestmark = pytest.mark.anyio


def recorder(
    journal: list[str], name: str, *, fail: bool = False
) -> Callable[[], AbstractAsyncContextManager[str]]:
    @asynccontextmanager
    async def child() -> AsyncIterator[str]:
        if fail:
            raise RuntimeError(f"{name} cannot start")
        journal.append(f"start {name}")
        try:
            yield name.upper()
        finally:
            journal.append(f"stop {name}")

    return child


async def test_children_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    tree = SupervisionTree("t", [Child(name=n, start=recorder(journal, n)) for n in "abc"])
    async with tree:
        assert journal == ["start a", "start b", "start c"]
        assert tree["b"] == "B"
        assert tree.started == ["a", "b", "c"]
    assert journal[3:] == ["stop c", "stop b", "stop a"]
    assert tree.started == []


async def test_a_failed_start_stops_the_started_children_in_reverse() -> None:
    journal: list[str] = []
    children = [
        Child(name="a", start=recorder(journal, "a")),
        Child(name="b", start=recorder(journal, "b")),
        Child(name="c", start=recorder(journal, "c", fail=True)),
        Child(name="d", start=recorder(journal, "d")),
    ]
    with pytest.raises(RuntimeError, match="c cannot start"):
        async with SupervisionTree("t", children):
            pytest.fail("the block must not run")
    assert journal == ["start a", "start b", "stop b", "stop a"]


async def test_cancellation_stops_every_child_in_reverse() -> None:
    journal: list[str] = []
    tree = SupervisionTree("t", [Child(name=n, start=recorder(journal, n)) for n in "ab"])
    with anyio.CancelScope() as scope:
        async with tree:
            scope.cancel()
            await anyio.sleep_forever()
    assert journal == ["start a", "start b", "stop b", "stop a"]


async def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        SupervisionTree("t", [Child(name="a", start=recorder([], "a"))] * 2)


async def test_running_reraises_the_blocks_error_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with running(anyio.sleep_forever):
            raise KeyError("x")


async def test_the_controller_tree_has_the_documented_order() -> None:
    tree = controller_tree(Settings(), clock=FakeClock(), readiness=Readiness())
    assert [c.name for c in tree.children] == [
        "clients",
        "audit-publisher",
        "http",
        "leader-elector",
        "actor-supervisor",
        "cr-watch",
    ]
    lines = tree.describe()
    assert lines[1].startswith("2. audit-publisher (permanent; restarted with its outbox intact")
    assert "→ actor-supervisor, cr-watch" in lines[3]
