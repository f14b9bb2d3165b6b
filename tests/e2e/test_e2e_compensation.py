"""A failure at each step of a planned switchover A→B is compensated, and the servers show the
prior state again: exactly one primary (A), DNS answers A, the lease is on A, both routes
serve A; ``status.lastSwitchover`` says Compensated/Failed at that step, and exactly one
``continuum-error`` event is stored in the audit stream.

The failures are real: the emulated API server answers 500 to one write, pdns_server is
stopped, the NATS server refuses lease writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from continuum.messages.audit import AuditType
from continuum_sim.stack import SimStack
from tests.e2e.conftest import Controllers, controllers, eventually
from tests.e2e.helpers import (
    A,
    B,
    audit_events,
    confirm,
    dns_answers,
    dry_run,
    last_switchover,
    lease,
    set_kv_write_limit,
    writer_becomes,
    writer_is,
)

pytestmark = pytest.mark.anyio

Inject = Callable[[SimStack], Awaitable[None]]


async def _errors(stack: SimStack) -> list[Any]:
    return [e for e in await audit_events(stack) if e.type is AuditType.ERROR]


async def _fail_one_switchover(
    stack: SimStack, run: Controllers, inject: Inject
) -> tuple[dict[str, Any], int]:
    """Start A→B with ``inject`` applied after the preview; return lastSwitchover of the run
    once recorded, and the lease generation before it."""
    await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
    assert await writer_is(stack, A) == []
    gen0 = (await lease(stack)).generation
    report = await dry_run(run, A, B)
    assert report.get("blockers", []) == [], report
    await inject(stack)
    accepted = await confirm(run, A, B, report["planFingerprint"])
    assert accepted.status_code == 202, accepted.text
    sid = accepted.json()["id"]
    await eventually(lambda: last_switchover(stack, A).get("id") == sid, what="run recorded")
    return last_switchover(stack, A), gen0


async def _compensated_back_to_a(stack: SimStack, last: dict[str, Any], *, step: str) -> None:
    assert last["failedAtStep"] == step, last
    assert last["result"] in ("Compensated", "Failed"), last
    assert step in last.get("error", ""), last

    async def agrees() -> bool:
        return await writer_is(stack, A) == []

    await eventually(agrees, timeout=10, what="prior state at the servers")

    async def one_error() -> bool:
        return len(await _errors(stack)) >= 1

    await eventually(one_error, timeout=10, what="continuum-error stored")
    errors = await _errors(stack)
    assert len(errors) == 1, errors
    assert errors[0].step == f"{_STEP_NUMBER[step]}/7"
    assert errors[0].fromPrimary == A
    assert errors[0].toPrimary == B


_STEP_NUMBER = {
    "cordon-old-primary": 2,
    "drain-http": 3,
    "flip-dns": 4,
    "swap-lease": 5,
    "promote-new-primary": 6,
}


def _fail_cluster_write(region: str) -> Inject:
    async def inject(stack: SimStack) -> None:
        stack.emulators[region].faults.fail(
            method="PATCH",
            path_regex=f"/clusters/{stack.cluster_name(region)}$",
            status=500,
            count=1,
            dry_run=False,  # the write itself, not the DryRun's dry-run probe of it
        )

    return inject


async def test_cordon_failure_is_compensated_and_region_a_stays_the_writer(
    stack: SimStack,
) -> None:
    async with controllers(stack) as run:
        last, gen0 = await _fail_one_switchover(stack, run, _fail_cluster_write(A))
        await _compensated_back_to_a(stack, last, step="cordon-old-primary")
        assert last["result"] == "Compensated"
        assert (await lease(stack)).generation >= gen0


async def test_drain_failure_restores_the_cordoned_primary_and_the_route(
    stack: SimStack,
) -> None:
    async def inject(s: SimStack) -> None:
        s.emulators[A].faults.fail(
            method="PATCH",
            path_regex=f"/httproutes/{s.spec.app}$",
            status=500,
            count=1,
            dry_run=False,  # the write itself, not the DryRun's dry-run probe of it
        )

    async with controllers(stack) as run:
        last, _ = await _fail_one_switchover(stack, run, inject)
        await _compensated_back_to_a(stack, last, step="drain-http")
        assert last["result"] == "Compensated"
        assert "cordon-old-primary" in last["compensatedSteps"]


async def test_flip_dns_failure_with_pdns_down_is_compensated_and_a_retry_succeeds(
    stack: SimStack,
) -> None:
    async def inject(s: SimStack) -> None:
        await s.pdns.stop()

    async with controllers(stack) as run:
        last, _ = await _fail_one_switchover(stack, run, inject)
        # pdns is down, so the DNS half of the compensation could not be written either:
        # the run is Failed with that compensation named; nothing had been written to DNS.
        assert last["result"] == "Failed", last
        assert "flip-dns" in last.get("failedCompensations", []), last
        assert {"drain-http", "cordon-old-primary"} <= set(last["compensatedSteps"]), last
        await stack.pdns.start()
        await _compensated_back_to_a(stack, last, step="flip-dns")

        retry = await dry_run(run, A, B)
        assert retry.get("blockers", []) == [], retry
        accepted = await confirm(run, A, B, retry["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        sid = accepted.json()["id"]
        await eventually(lambda: last_switchover(stack, A).get("id") == sid, what="retry")
        assert last_switchover(stack, A)["result"] == "Succeeded", last_switchover(stack, A)
        # B's copy of the route is converged by B's instance within its next observations
        await writer_becomes(stack, B, timeout=3 * stack.spec.renew_seconds + 5)
        errors = await _errors(stack)
        # the failed run's error, then B's instance converging B's copy of the route
        assert len([e for e in errors if not e.reason.startswith("converged-")]) == 1, errors
        assert [e.reason for e in errors if e.reason.startswith("converged-")] == [
            "converged-serve-route"
        ]


async def test_swap_lease_refused_by_the_witness_is_compensated(stack: SimStack) -> None:
    async def inject(s: SimStack) -> None:
        await set_kv_write_limit(s, 1)

    async with controllers(stack) as run:
        try:
            last, gen0 = await _fail_one_switchover(stack, run, inject)
        finally:
            await set_kv_write_limit(stack, -1)
        await _compensated_back_to_a(stack, last, step="swap-lease")
        assert last["result"] == "Compensated", last
        assert "flip-dns" in last["compensatedSteps"], last
        held = await lease(stack)
        assert held.holder == A
        assert held.generation >= gen0
        assert await dns_answers(stack, A)


async def test_promote_failure_is_compensated_back_to_region_a(stack: SimStack) -> None:
    async with controllers(stack) as run:
        last, gen0 = await _fail_one_switchover(stack, run, _fail_cluster_write(B))
        await _compensated_back_to_a(stack, last, step="promote-new-primary")
        assert last["result"] == "Compensated", last
        assert "swap-lease" in last["compensatedSteps"], last
        held = await lease(stack)
        # handed to B and back again: two generations on, held by A
        assert held.holder == A
        assert held.generation > gen0
