"""Auto-failover end to end: region A's instance dies (its lease is never released) and then
region A's API server stops answering; region B's instance takes the writer role only once
A's lease has expired AND it has seen A unreachable on N consecutive observations; with
``autoFailover: false`` it never does.

Timing is real (two controller processes' worth of timers on the system clock, ttl 10 s,
renew 2 s, N = 3); the test only polls the servers, with bounded deadlines.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from continuum.adapters.cnpg import ready_as_primary
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, dns_answers, last_switchover, lease

pytestmark = pytest.mark.anyio

TTL, RENEW, OBSERVATIONS = 10, 2, 3


def _spec(*, auto: bool) -> StackSpec:
    return StackSpec(
        drain_seconds=0,
        auto_failover=auto,
        auto_failover_observations=OBSERVATIONS,
        ttl_seconds=TTL,
        renew_seconds=RENEW,
    )


def _b_started_a_run(stack: SimStack) -> bool:
    """Any trace of a run by B's instance: its journal (written before step 1) or a result."""
    status = stack.continuum_status(B)
    return bool(status.get("switchover") or status.get("lastSwitchover"))


async def _a_dies(stack: SimStack, stop: Callable[[], None]) -> datetime:
    """Stop A's instance (as a crash: the lease stays held) and return when A's last lease
    expires, as the witness says."""
    stop()
    last = await lease(stack)
    # a renewal already in flight may still land: wait until the stored lease stops moving
    for _ in range(40):
        await anyio.sleep(0.1)
        now = await lease(stack)
        if now.generation == last.generation:
            break
        last = now
    assert last.holder == A
    assert last.expires_at is not None
    return last.expires_at


async def _hold_while(
    deadline: float, *, stack: SimStack, invariant: Callable[[], Awaitable[None] | None]
) -> None:
    """Poll until the monotonic ``deadline``, checking ``invariant`` each time."""
    while time.monotonic() < deadline:
        checked = invariant()
        if checked is not None:
            await checked
        await anyio.sleep(0.1)


async def test_b_takes_over_only_after_the_ttl_and_n_unreachable_observations(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=_spec(auto=True)) as stack, controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        await eventually(lambda: (stack.continuum_status(B).get("leaseHolder") or "") == A)
        expires = await _a_dies(stack, lambda: run.stop(A))

        def nothing_yet() -> None:
            assert not _b_started_a_run(stack), stack.continuum_status(B)

        # A's lease runs out while A's API still answers: an expired lease alone is not enough
        wait = (expires - datetime.now(UTC)).total_seconds() + 2 * RENEW + 0.5
        await _hold_while(time.monotonic() + wait, stack=stack, invariant=nothing_yet)
        assert (await lease(stack)).is_free_at(datetime.now(UTC))

        stack.emulators[A].faults.fail(status=503, count=None)  # region A is gone
        gone = time.monotonic()
        await eventually(lambda: _b_started_a_run(stack), timeout=(OBSERVATIONS + 3) * RENEW)
        started = time.monotonic()
        assert started - gone >= (OBSERVATIONS - 1) * RENEW - 0.2, started - gone

        await eventually(
            lambda: last_switchover(stack, B).get("result") is not None, what="failover recorded"
        )
        last = last_switchover(stack, B)
        assert last["result"] == "Succeeded", last
        assert last["reason"] == "auto-failover"
        assert last["from"] == A
        assert last["to"] == B
        assert ready_as_primary(B, stack.cluster(B)), stack.cluster(B)
        held = await lease(stack)
        assert held.holder == B
        assert await dns_answers(stack, B)


async def test_without_auto_failover_nothing_happens_when_the_primary_is_lost(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=_spec(auto=False)) as stack, controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        await eventually(lambda: (stack.continuum_status(B).get("leaseHolder") or "") == A)
        expires = await _a_dies(stack, lambda: run.stop(A))
        stack.emulators[A].faults.fail(status=503, count=None)

        def nothing() -> None:
            assert not _b_started_a_run(stack), stack.continuum_status(B)
            assert stack.acting_primaries() == [A]

        margin = 1.0
        wait = (expires - datetime.now(UTC)).total_seconds() + OBSERVATIONS * RENEW + margin
        await _hold_while(time.monotonic() + wait, stack=stack, invariant=nothing)

        held = await lease(stack)
        assert held.holder == A
        assert held.is_free_at(datetime.now(UTC))
        assert await dns_answers(stack, A)
        assert stack.serving_regions(B) == {A}
