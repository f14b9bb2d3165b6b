"""DryRun is read-only, proven at the servers; and the two seed scenarios on the full setup:
DryRun → Execute → PostSwitchoverHealth all green, and a DryRun with a blocker after which
the switchover is refused and nothing is written anywhere.

The read-only proofs run on a stack whose CR renews every 60 s: after start-up settles no
timer of either controller fires during the test, so every write seen in a measured window
would be the request's own. The window counts every non-GET request at both emulated API
servers, the audit stream's message count, the KV revision of the lease entry (any witness
write moves it) and the zone as pdns serves it (serial and rrsets).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from nats.aio.client import Client as NATS

from continuum.messages.lease import Lease
from continuum.messages.switchover import STEP_ORDER
from continuum.witness.codec import encode_lease
from continuum.witness.nats_kv import DEFAULT_BUCKET, encode_kv_key
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import Controllers, controllers, eventually
from tests.e2e.helpers import (
    A,
    B,
    audit_count,
    confirm,
    dry_run,
    last_switchover,
    lease_revision,
    writer_becomes,
    zone_state,
)

pytestmark = pytest.mark.anyio

QUIET = StackSpec(drain_seconds=0, ttl_seconds=300, renew_seconds=60)


@pytest.fixture
async def quiet(tmp_path: Path) -> AsyncIterator[tuple[SimStack, Controllers]]:
    """A stack and both controllers, started and settled: no timer fires for 60 s."""
    async with SimStack(tmp_path, spec=QUIET) as stack, controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        await eventually(lambda: bool(stack.continuum_status(B).get("phase")))
        await _settled(stack)
        yield stack, run


async def _snapshot(stack: SimStack) -> tuple[Any, ...]:
    return (
        tuple(len(stack.emulators[r].requests.writes()) for r in stack.spec.regions),
        await audit_count(stack),
        await lease_revision(stack),
        await zone_state(stack),
    )


async def _settled(stack: SimStack) -> None:
    """Wait (bounded) until start-up writes and audit deliveries have stopped."""
    with anyio.fail_after(15):
        previous = await _snapshot(stack)
        stable = 0
        while stable < 3:
            await anyio.sleep(0.2)
            current = await _snapshot(stack)
            stable = stable + 1 if current == previous else 0
            previous = current


class Window:
    """Everything a read-only request must leave unchanged, measured from ``open``."""

    def __init__(self, stack: SimStack) -> None:
        self.stack = stack
        self.before: tuple[Any, ...] = ()

    async def open(self) -> None:
        for emulator in self.stack.emulators.values():
            emulator.requests.clear()
        self.before = (
            await audit_count(self.stack),
            await lease_revision(self.stack),
            await zone_state(self.stack),
            {r: self.stack.cluster(r)["spec"] for r in self.stack.spec.regions},
            {r: self.stack.route_weights(r) for r in self.stack.spec.regions},
        )

    async def changes(self) -> dict[str, Any]:
        """What was written since :meth:`open`, by server (empty: nothing)."""
        stack = self.stack
        found: dict[str, Any] = {}
        for region, emulator in stack.emulators.items():
            if emulator.requests.writes():
                found[f"kube {region}"] = [(w.method, w.path) for w in emulator.requests.writes()]
        after = (
            await audit_count(stack),
            await lease_revision(stack),
            await zone_state(stack),
            {r: stack.cluster(r)["spec"] for r in stack.spec.regions},
            {r: stack.route_weights(r) for r in stack.spec.regions},
        )
        names = ("audit events", "lease KV revision", "pdns zone", "Cluster specs", "routes")
        for name, was, now in zip(names, self.before, after, strict=True):
            if now != was:
                found[name] = (was, now)
        return found

    async def assert_nothing_written(self) -> None:
        assert await self.changes() == {}


async def test_dry_run_writes_nothing_to_any_server(
    quiet: tuple[SimStack, Controllers],
) -> None:
    stack, run = quiet
    window = Window(stack)
    await window.open()

    first = await dry_run(run, A, B)  # computed
    cached = await dry_run(run, A, B)  # served from the cache
    other = await dry_run(run, A, B, reason="drill")  # another plan: computed again
    # the standby's instance previews the same move (with its own, older view of the lease)
    from_standby = await dry_run(run, B, B)

    await window.assert_nothing_written()
    assert first.get("blockers", []) == []
    assert cached == first
    assert other["planFingerprint"] != first["planFingerprint"]
    assert len(from_standby["steps"]) == len(STEP_ORDER)
    # the preview did read the servers it reports on (so the zero writes mean something)
    for region in stack.spec.regions:
        assert stack.emulators[region].requests.matching(verb="get", resource="clusters")
    assert stack.emulators[A].requests.matching(verb="get", resource="httproutes")

    # the same window sees every one of those writes once the plan is executed
    accepted = await confirm(run, A, B, first["planFingerprint"])
    assert accepted.status_code == 202, accepted.text
    await eventually(lambda: last_switchover(stack, A).get("result") == "Succeeded")
    await eventually(lambda: _written_everywhere(window), what="writes seen")


async def _written_everywhere(window: Window) -> bool:
    seen = set(await window.changes())
    return seen >= {
        f"kube {A}",
        f"kube {B}",
        "audit events",
        "lease KV revision",
        "pdns zone",
        "Cluster specs",
        "routes",
    }


def _fingerprint_ok(report: dict[str, Any]) -> bool:
    return re.fullmatch(r"[0-9a-f]{16}", report["planFingerprint"]) is not None


async def test_dry_run_then_execute_then_post_switchover_health_is_all_green(
    stack: SimStack,
) -> None:
    async with controllers(stack, health_delay=0) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        report = await dry_run(run, A, B)
        assert [s["name"] for s in report["steps"]] == [s.value for s in STEP_ORDER]
        assert all(s["preconditionsMet"] for s in report["steps"]), report
        assert report.get("blockers", []) == []
        assert _fingerprint_ok(report)

        accepted = await confirm(run, A, B, report["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        sid = accepted.json()["id"]
        await eventually(lambda: last_switchover(stack, A).get("id") == sid, what="recorded")
        assert last_switchover(stack, A)["result"] == "Succeeded"
        # B's copy of the route is converged by B's instance within its next observations
        await writer_becomes(stack, B, timeout=3 * stack.spec.renew_seconds + 5)

        await eventually(
            lambda: (stack.continuum_status(A).get("lastHealth") or {}).get("switchoverId") == sid,
            what="post-switchover health",
        )
        automatic = stack.continuum_status(A)["lastHealth"]
        assert automatic["toRegion"] == B
        assert [c["name"] for c in automatic["checks"]] == [
            "replicas-healthy",
            "dns-probes",
            "latency-normal",
            "audit-posted",
        ]
        # pdns' ifurlup may still answer from before its first health check of the new
        # records right after the flip (see the report); a fresh run once the answers are
        # stable must be green in every check
        ns, name = stack.spec.namespace, stack.spec.name
        health: dict[str, Any] = {}

        async def green() -> bool:
            nonlocal health
            answer = await run.api(A, "GET", f"/v1/continuums/{ns}/{name}/health?fresh=true")
            health = answer.json()
            return bool(health.get("verdict") == "healthy")

        await eventually(green, timeout=10, what="fresh health green")
        assert health["newPrimaryRegion"] == B
        checks = {c["name"]: c for c in health["checks"]}
        for check in ("replicas-healthy", "dns-probes", "audit-posted"):
            assert checks[check]["status"] == "pass", checks[check]
        assert checks["latency-normal"]["deferred"] is True


async def _target_not_ready(stack: SimStack) -> str:
    await stack.cnpg.set_unreachable(B)
    await eventually(lambda: stack.cluster(B).get("status", {}).get("readyInstances") == 0)
    return "is not Ready"


async def _third_party_holder(stack: SimStack) -> str:
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        kv = await nc.jetstream().key_value(DEFAULT_BUCKET)
        entry = await kv.get(encode_kv_key(stack.key))
        assert entry.value is not None
        held = Lease(key=stack.key, holder="region-c", generation=99, expires_at=None)
        await kv.update(encode_kv_key(stack.key), encode_lease(held), last=entry.revision)
    finally:
        await nc.close()
    return "third-party"


@pytest.mark.parametrize("blocker", [_target_not_ready, _third_party_holder])
async def test_a_dry_run_blocker_refuses_the_switchover_and_nothing_is_written(
    quiet: tuple[SimStack, Controllers], blocker: Any
) -> None:
    stack, run = quiet
    expected = await blocker(stack)
    await _settled(stack)
    window = Window(stack)
    await window.open()

    report = await dry_run(run, A, B)
    assert any(expected in b for b in report.get("blockers", [])), report
    refused = await confirm(run, A, B, report["planFingerprint"])

    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert detail["reason"] == "blockers"
    assert detail["report"]["blockers"] == report["blockers"]
    await window.assert_nothing_written()
    assert last_switchover(stack, A) == {}
    assert stack.acting_primaries() == [A]
