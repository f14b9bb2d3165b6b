"""Drift repair with real processes: with no switchover running, each part of the world is
broken from outside (at the emulated API servers and at the real pdns_server, as another
tool or a hurried operator would): the primary demoted, the primary fenced, DNS pointed at
the standby, every route weight set to 0. The acting instance converges it back to the
lease holder and audits it (``continuum-error``, reason ``converged-<action>``); with the
lease on the other region, the same breakage converges to that region.

Throughout, the invariant checker samples the servers: never two primaries, the lease
never taken while live, and no CR copy saying ``Ready=True`` for more than a few seconds
while the servers disagree with the holder.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from continuum.adapters.cnpg import FENCE_ALL, FENCE_ANNOTATION
from continuum.adapters.powerdns import PowerDnsApi
from continuum.switchover.lua import synthesize
from continuum_sim.stack import SimStack
from tests.e2e.conftest import eventually
from tests.e2e.helpers import A, B
from tests.reliability.harness import (
    approve_failback,
    checking,
    other,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio

CLUSTERS = ("postgresql.cnpg.io", "clusters")
ROUTES = ("gateway.networking.k8s.io", "httproutes")
STATUS_GRACE = 8.0  # as in test_reliability_crash.py


def _edit(
    stack: SimStack,
    region: str,
    kind: tuple[str, str],
    name: str,
    change: Callable[[dict[str, Any]], None],
) -> None:
    """Replace an object in ``region``'s API server with ``change`` applied (in process,
    the same validation as an HTTP write; the CNPG emulation and the controllers see it
    through their watches)."""
    emulator = stack.emulators[region]
    found = emulator.store.get(*kind, stack.spec.namespace, name)
    assert found is not None
    obj = copy.deepcopy(dict(found))
    obj.pop("status", None)
    change(obj)
    emulator.apply(obj)


async def demote_the_primary(stack: SimStack, holder: str) -> None:
    """The holder's Cluster pointed at the other one, as a demotion does: no primary left."""

    def change(obj: dict[str, Any]) -> None:
        obj["spec"]["replica"]["primary"] = stack.cluster_name(other(holder))

    _edit(stack, holder, CLUSTERS, stack.cluster_name(holder), change)


async def fence_the_primary(stack: SimStack, holder: str) -> None:
    def change(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("annotations", {})[FENCE_ANNOTATION] = FENCE_ALL

    _edit(stack, holder, CLUSTERS, stack.cluster_name(holder), change)


async def dns_at_the_standby(stack: SimStack, holder: str) -> None:
    async with PowerDnsApi(stack.pdns.api_url, stack.pdns.api_key) as api:
        await api.commit(stack.spec.zone, synthesize(stack.lua_params(other(holder))))


async def zero_route_weights(stack: SimStack, holder: str) -> None:
    def change(obj: dict[str, Any]) -> None:
        for rule in obj["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                ref["weight"] = 0

    for region in stack.spec.regions:
        _edit(stack, region, ROUTES, stack.spec.app, change)


BREAKAGES = {
    "demote-the-primary": (demote_the_primary, "converged-promote-holder"),
    "fence-the-primary": (fence_the_primary, "converged-unfence-holder"),
    "dns-at-the-standby": (dns_at_the_standby, "converged-restore-dns"),
    "zero-route-weights": (zero_route_weights, "converged-serve-route"),
}


async def _converged_reasons(stack: SimStack) -> list[str]:
    return [e.reason for e in await stored_audit_events(stack) if e.reason.startswith("converged-")]


@pytest.mark.timeout(300)
async def test_every_breakage_from_outside_converges_to_the_holder_in_either_region(
    tmp_path: Path,
) -> None:
    repaired: list[str] = []
    async with SimStack(tmp_path, spec=reliability_spec()) as stack:
        approve_failback(stack)
        async with (
            running_controllers(stack) as procs,
            checking(stack, status_grace=STATUS_GRACE) as checker,
        ):
            holder = await wait_settled(stack, procs, routes=True, ready=True)
            assert holder == A
            for round_holder in (A, B):
                if holder != round_holder:
                    answer = await switch(procs[holder], round_holder)
                    assert answer.status_code == 202, answer.text
                    holder = await wait_settled(stack, procs, routes=True, ready=True)
                    assert holder == round_holder
                for name, (brk, audited) in BREAKAGES.items():
                    before = (await _converged_reasons(stack)).count(audited)
                    await brk(stack, holder)
                    settled = await wait_settled(stack, procs, routes=True, ready=True)
                    assert settled == holder, f"{name}: the writer moved to {settled}"

                    async def audited_once_more(what: str = audited, n: int = before) -> bool:
                        return (await _converged_reasons(stack)).count(what) > n

                    await eventually(audited_once_more, timeout=20, what=f"{name}: {audited}")
                    repaired.append(f"{name}@{holder}")
    assert len(repaired) == 2 * len(BREAKAGES)
    print(
        f"\ndrift: repaired={repaired} checker_samples={checker.samples} "
        f"longest_ready_while_wrong_s={checker.longest_ready_while_wrong:.2f} violations=0"
    )
