"""RBAC is complete and minimal, from recorded traffic: a planned switchover A→B through the
API and the approved failback B→A through ``spec.switchover.requested`` run against the
emulated API servers of both regions, and every (verb, group, resource) the two controller
instances send is recorded.

The controllers reach the emulators through recording proxies (the emulators' own request
logs also hold the CNPG operator emulation's calls). The chart must grant every recorded
call, ``rbac_calls.CONTROLLER_API_CALLS`` must list it, and every listed call that this run
does not make must be explained in ``NOT_EXERCISED``, so the list cannot carry a grant nobody
can account for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from chart_support import ENABLED_VALUES, Rendered
from rbac_calls import CONTROLLER_API_CALLS, Call, assert_calls_are_expected, grants

from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import (
    A,
    B,
    RecordingProxy,
    confirm,
    dry_run,
    last_switchover,
    proxied_kubeconfig,
)

pytestmark = pytest.mark.anyio

Render = Callable[[dict[str, Any]], Rendered]

NOT_EXERCISED: dict[Call, str] = {
    ("get", "coordination.k8s.io", "leases"): "leader election and the k8s-lease witness",
    ("create", "coordination.k8s.io", "leases"): "leader election and the k8s-lease witness",
    ("update", "coordination.k8s.io", "leases"): "leader election and the k8s-lease witness",
    ("list", "coordination.k8s.io", "leases"): "sharding's membership Leases (tests/shard)",
    ("delete", "coordination.k8s.io", "leases"): "sharding: a replica's own Lease on a clean exit",
    ("get", "", "secrets"): "witness credentials (cloudflare-kv); nats-kv needs none",
    ("patch", "", "secrets"): (
        "managed-role re-assert: the stack's Clusters declare no managed roles"
        " (tests/kube/test_kube_role_reassert.py touches them over the emulators)"
    ),
    ("delete", "", "configmaps"): (
        "audit outbox records left by an earlier incarnation are deleted one by one by name;"
        " a fresh process settles its own records by deletecollection"
    ),
}
"""Listed calls this scenario does not make (leader election is off, one instance per
region; the witness is nats-kv), with the feature that makes them."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # kubernetes-asyncio and nats-py


def _approve_failback_request(stack: SimStack) -> None:
    """Ask for the failback on the CR in B (as an operator's kubectl would), approved."""
    emulator = stack.emulators[B]
    ns, name = stack.spec.namespace, stack.spec.name
    current = emulator.store.get("dr.openova.io", "continuums", ns, name)
    assert current is not None
    cr = msgspec.json.decode(msgspec.json.encode(current))
    cr["spec"]["switchover"].update({"requested": True, "targetRegion": A})
    cr["spec"]["failback"] = {"approved": True, "approvedBy": "ops"}
    emulator.apply(cr)


async def _record_switchover_and_failback(tmp_path: Path) -> set[Call]:
    spec = StackSpec(drain_seconds=0, ttl_seconds=10, renew_seconds=2)
    async with SimStack(tmp_path, spec=spec) as stack:
        proxies = {r: RecordingProxy(stack.emulators[r].url) for r in spec.regions}
        for proxy in proxies.values():
            await proxy.start()
        try:
            stack.kubeconfig = proxied_kubeconfig(stack, proxies, tmp_path / "kubeconfig-proxied")
            async with controllers(stack) as run:
                await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
                report = await dry_run(run, A, B)
                accepted = await confirm(run, A, B, report["planFingerprint"])
                assert accepted.status_code == 202, accepted.text
                await eventually(lambda: last_switchover(stack, A).get("result") == "Succeeded")

                _approve_failback_request(stack)
                await eventually(
                    lambda: last_switchover(stack, B).get("result") == "Succeeded",
                    what="failback recorded",
                )
                await eventually(
                    lambda: (
                        not stack.continuum_status(B).get("switchover") and _request_cleared(stack)
                    ),
                    what="request cleared",
                )
                assert stack.acting_primaries() == [A]
        finally:
            for proxy in proxies.values():
                await proxy.stop()
        calls: set[Call] = set()
        for proxy in proxies.values():
            calls |= proxy.calls
        return calls


def _request_cleared(stack: SimStack) -> bool:
    cr = stack.emulators[B].store.get(
        "dr.openova.io", "continuums", stack.spec.namespace, stack.spec.name
    )
    return cr is not None and not cr["spec"].get("switchover", {}).get("requested")


async def test_the_chart_grants_every_call_of_a_switchover_and_failback_and_nothing_unexplained(
    tmp_path: Path, render: Render
) -> None:
    recorded = await _record_switchover_and_failback(tmp_path)

    assert ("patch", "postgresql.cnpg.io", "clusters") in recorded  # the run was recorded
    assert_calls_are_expected(recorded)
    granted = grants(render(ENABLED_VALUES).objects)
    assert sorted(recorded - granted) == [], "recorded calls the chart does not grant"
    unexplained = sorted(CONTROLLER_API_CALLS - recorded - set(NOT_EXERCISED))
    assert unexplained == [], f"listed calls neither made nor explained: {unexplained}"
    stale = sorted(set(NOT_EXERCISED) & recorded)
    assert stale == [], "NOT_EXERCISED names calls the run made"
