"""Issue 13, item 1: after a planned switchover and after an auto-failover, the HTTPRoute of
BOTH regions serves the new holder's backend, read at both emulated API servers.

Each region's API server holds its own copy of the route. The switchover re-weights only the
copy of the region whose instance runs it; the new holder's instance converges every other
copy it reaches (it has a kubeconfig context for each region). Real timers (renew 2 s), so
every wait is a bounded poll of the servers.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from continuum.adapters.httproute import BEFORE_DRAIN_ANNOTATION
from continuum.messages.audit import AuditType
from continuum.messages.switchover import backend_in_region
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import (
    A,
    B,
    audit_events,
    confirm,
    dry_run,
    last_switchover,
    lease,
    writer_becomes,
)

pytestmark = pytest.mark.anyio

TTL, RENEW, OBSERVATIONS = 10, 2, 3

CONVERGE_WITHIN = 4 * RENEW + 5
"""Real seconds for the new holder's instance to see it holds the lease (its next renewal),
to see the disagreement twice (two observations, one per renewal) and to repair it, with
room for a loaded machine."""


def _spec(*, auto: bool = False) -> StackSpec:
    return StackSpec(
        drain_seconds=0,
        auto_failover=auto,
        auto_failover_observations=OBSERVATIONS,
        ttl_seconds=TTL,
        renew_seconds=RENEW,
    )


def _routes(stack: SimStack) -> dict[str, set[str]]:
    """By region, the regions its API server's copy of the route sends traffic to."""
    return {region: stack.serving_regions(region) for region in stack.spec.regions}


def _send_everything_to(stack: SimStack, where: str, region: str) -> None:
    """Re-weight ``where``'s copy of the route from outside (an operator's ``kubectl``): all
    traffic to ``region``'s backend."""
    emu = stack.emulators[where]
    route = emu.store.get(
        "gateway.networking.k8s.io", "httproutes", stack.spec.namespace, stack.spec.app
    )
    assert route is not None
    body = msgspec.json.decode(msgspec.json.encode(route))
    for rule in body["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            ref["weight"] = 100 if backend_in_region(ref["name"], region) else 0
    emu.apply(body)


async def _route_repairs(stack: SimStack) -> list[str]:
    """The ``converged-serve-route`` audit events' messages, in stream order."""
    return [
        e.message
        for e in await audit_events(stack)
        if e.type is AuditType.ERROR and e.reason == "converged-serve-route"
    ]


async def test_after_a_planned_switchover_both_regions_routes_serve_the_new_holder(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=_spec()) as stack, controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        assert _routes(stack) == {A: {A}, B: {A}}

        report = await dry_run(run, A, B)
        assert report.get("blockers", []) == [], report
        accepted = await confirm(run, A, B, report["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        await eventually(
            lambda: last_switchover(stack, A).get("result") == "Succeeded",
            what="switchover recorded",
        )
        assert stack.serving_regions(A) == {B}  # the run re-weighted A's own copy

        await writer_becomes(stack, B, timeout=CONVERGE_WITHIN)
        assert _routes(stack) == {A: {B}, B: {B}}
        repairs = await _route_repairs(stack)
        assert len(repairs) == 1, repairs
        assert f"route in {B} sends nothing to {B}" in repairs[0]

        # A's copy turned back to A from outside: only the holder's instance (B's) repairs
        # it, through A's API server; A's instance, a standby, only reports it.
        _send_everything_to(stack, A, A)
        assert _routes(stack) == {A: {A}, B: {B}}
        await writer_becomes(stack, B, timeout=CONVERGE_WITHIN)
        assert _routes(stack) == {A: {B}, B: {B}}
        repairs = await _route_repairs(stack)
        assert len(repairs) == 2, repairs
        assert f"route in {A} sends nothing to {B}" in repairs[1]
        await eventually(
            lambda: stack.continuum_status(B).get("phase") in ("Healthy", "FailedOver"),
            what="B's status agrees",
        )


async def test_after_an_auto_failover_both_regions_routes_serve_the_new_holder(
    tmp_path: Path,
) -> None:
    """A's instance dies and A's API server stops answering: B fails over and re-weights
    its own copy. When A's API server answers again (A's instance still dead), B's instance
    converges A's copy, which still sent everything to A."""
    async with SimStack(tmp_path, spec=_spec(auto=True)) as stack, controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        await eventually(lambda: (stack.continuum_status(B).get("leaseHolder") or "") == A)
        run.stop(A)
        stack.emulators[A].faults.fail(status=503, count=None)  # region A is gone
        await eventually(
            lambda: last_switchover(stack, B).get("result") is not None,
            timeout=TTL + (OBSERVATIONS + 4) * RENEW,
            what="failover recorded",
        )
        assert last_switchover(stack, B)["result"] == "Succeeded", last_switchover(stack, B)
        assert (await lease(stack)).holder == B
        assert stack.serving_regions(B) == {B}  # the run re-weighted B's own copy
        assert stack.serving_regions(A) == {A}  # A's copy is out of reach

        stack.emulators[A].faults.clear()  # region A answers again
        await writer_becomes(stack, B, timeout=CONVERGE_WITHIN)
        assert _routes(stack) == {A: {B}, B: {B}}
        repairs = await _route_repairs(stack)
        assert any(f"route in {A} sends nothing to {B}" in m for m in repairs), repairs


async def test_a_route_a_drain_left_serving_nothing_gets_its_recorded_weights_back(
    tmp_path: Path,
) -> None:
    """A's copy as ``drain-http`` leaves it before its ``shift_to`` (a crash in between,
    the undo never run): every backend at 0 and the weights found recorded on it. The
    holder's instance gives the recorded weights back (100, not the fallback's 1); B's copy,
    zeroed from outside with no record, gets the fallback: A's backend at 1."""
    async with SimStack(tmp_path, spec=_spec()) as stack, controllers(stack):
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        for region in (A, B):
            emu = stack.emulators[region]
            route = emu.store.get(
                "gateway.networking.k8s.io", "httproutes", stack.spec.namespace, stack.spec.app
            )
            assert route is not None
            body = msgspec.json.decode(msgspec.json.encode(route))
            found: dict[str, int] = {}
            for rule in body["spec"]["rules"]:
                for ref in rule["backendRefs"]:
                    found[ref["name"]] = ref["weight"]
                    ref["weight"] = 0
            if region == A:
                body["metadata"].setdefault("annotations", {})[BEFORE_DRAIN_ANNOTATION] = (
                    msgspec.json.encode(found).decode()
                )
            emu.apply(body)
        assert _routes(stack) == {A: set(), B: set()}
        await eventually(
            lambda: _routes(stack) == {A: {A}, B: {A}},
            timeout=CONVERGE_WITHIN,
            what="both copies serve A again",
        )
        assert stack.route_weights(A) == {f"{stack.spec.app}-{A}": 100, f"{stack.spec.app}-{B}": 0}
        assert stack.route_weights(B) == {f"{stack.spec.app}-{A}": 1, f"{stack.spec.app}-{B}": 0}

        async def both_audited() -> bool:
            return len(await _route_repairs(stack)) == 2

        await eventually(both_audited, what="both repairs audited")
