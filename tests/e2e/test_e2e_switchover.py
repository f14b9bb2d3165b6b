"""A planned switchover A→B and the approved failback B→A, through the controllers' HTTP API,
with every step's effect checked at the servers (emulated Kubernetes of both regions, the real
NATS witness and audit stream, the real PowerDNS) and at the real PostgreSQL instances behind
the Clusters, while a client writes to whichever region accepts writes: no acknowledged write
is lost, none is accepted by a demoted primary, the failback needs no rewind."""

from __future__ import annotations

import msgspec
import pytest

from continuum.messages.audit import AuditType
from continuum_sim.stack import SimStack
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import check, read_final
from tests.e2e.conftest import Controllers, controllers, eventually
from tests.e2e.helpers import A, B, audit_events, confirm, dns_answers, dry_run, lease

pytestmark = pytest.mark.anyio


async def switch(run: Controllers, region: str, to: str) -> dict:
    body = await dry_run(run, region, to)
    assert body.get("blockers", []) == [], body
    accepted = await confirm(run, region, to, body["planFingerprint"])
    assert accepted.status_code == 202, accepted.text
    return accepted.json()


async def test_planned_switchover_then_approved_failback(real_pg_stack: SimStack) -> None:
    stack = real_pg_stack
    assert stack.databases is not None
    ns, name = stack.spec.namespace, stack.spec.name
    workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)
    async with controllers(stack) as run, workload.running():
        await workload.wait_acks(20)
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        before = await lease(stack)
        assert before.holder == A
        assert stack.acting_primaries() == [A]

        started = await switch(run, A, B)
        await eventually(
            lambda: (
                (stack.continuum_status(A).get("lastSwitchover") or {}).get("result") == "Succeeded"
            ),
            what="switchover recorded",
        )
        assert started["fromRegion"] == A
        assert stack.acting_primaries() == [B]
        await eventually(lambda: bool(workload.acks) and workload.acks[-1].region == B)
        assert stack.serving_regions(A) == {B}
        assert await dns_answers(stack, B)
        after = await lease(stack)
        assert after.holder == B
        assert after.generation > before.generation
        await eventually(lambda: stack.continuum_status(B).get("phase") == "FailedOver")
        await eventually(
            lambda: (stack.continuum_status(A).get("lastHealth") or {}).get("verdict") == "healthy",
            what="post-switchover health",
        )

        # failback: B's instance is asked to move the writer home; it needs approval
        refused = await run.api(
            B, "POST", f"/v1/continuums/{ns}/{name}/dry-run", json={"toRegion": A}
        )
        fp = refused.json()["planFingerprint"]
        no = await run.api(
            B,
            "POST",
            f"/v1/continuums/{ns}/{name}/switchover",
            json={"toRegion": A, "fingerprint": fp},
        )
        assert no.status_code == 409
        assert no.json()["detail"]["reason"] == "failback-approval-required"
        patch = {"spec": {"failback": {"approved": True, "approvedBy": "ops"}}}
        emu = stack.emulators[B]
        cr = emu.store.get("dr.openova.io", "continuums", ns, name)
        assert cr is not None
        merged = msgspec.json.decode(msgspec.json.encode(cr))
        merged["spec"]["failback"] = patch["spec"]["failback"]
        emu.apply(merged)
        await eventually(lambda: _fingerprint_ok(run, B, A), what="approval observed")
        await switch(run, B, A)
        await eventually(
            lambda: (
                (stack.continuum_status(B).get("lastSwitchover") or {}).get("result") == "Succeeded"
            ),
            what="failback recorded",
        )
        assert stack.acting_primaries() == [A]
        assert (await lease(stack)).holder == A
        assert await dns_answers(stack, A)
        await eventually(lambda: workload.acks[-1].region == A, what="writes back on A")
        await workload.wait_acks(20)
    final = await read_final(stack.databases.dsns()[A])
    report = check(workload.acks, final, stack.databases.transitions, sent=workload.sent)
    assert report.lost == (), report
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report
    assert set(report.regions) == {A, B}
    assert [t.kind for t in stack.databases.transitions] == ["demoted", "promoted"] * 2
    assert [t.timeline for t in stack.databases.transitions if t.kind == "promoted"] == [2, 3]
    assert stack.databases.rewinds == []  # the failback reused A's data: no rewind, no clone
    assert (await stack.databases.state(B)).in_recovery
    types = [event.type.value for event in await audit_events(stack)]
    assert types.count(AuditType.SWITCHOVER.value) == 2
    assert types.count(AuditType.FAILBACK_COMPLETED.value) == 1
    assert types.count(AuditType.FAILBACK_PENDING.value) >= 1


async def _fingerprint_ok(run: Controllers, region: str, to: str) -> bool:
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    summary = await run.api(region, "GET", f"/v1/continuums/{ns}/{name}")
    return summary.status_code == 200 and summary.json().get("acting") is True
