"""A planned switchover A→B and the approved failback B→A, through the controllers' HTTP API,
with every step's effect checked at the servers (emulated Kubernetes of both regions, the real
NATS witness and audit stream, the real PowerDNS)."""

from __future__ import annotations

import msgspec
import pytest
from nats.aio.client import Client as NATS

from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import SystemClock
from continuum.messages.audit import AuditType, decode_event
from continuum.sim.stack import SimStack
from continuum.switchover.dnsverify import verify_answer
from continuum.witness.nats_kv import open_nats_kv
from tests.e2e.conftest import Controllers, controllers, eventually

pytestmark = pytest.mark.anyio

A, B = "region-a", "region-b"


async def lease_holder(stack: SimStack) -> tuple[str, int]:
    witness = await open_nats_kv(stack.nats.url, clock=SystemClock())
    try:
        lease = await witness.read(stack.key)
    finally:
        await witness.aclose()
    return lease.holder, lease.generation


async def dns_answers(stack: SimStack, region: str) -> bool:
    result = await verify_answer(
        AiodnsResolver(),
        hostnames=stack.spec.hostnames,
        vantages=stack.pdns.nameservers,
        expected_ips=stack.spec.ips[region],
        timeout=0.5,
        clock=SystemClock(),
    )
    return result.ok


async def audit_types(stack: SimStack) -> list[str]:
    nc = NATS()
    await nc.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("catalyst.audit", durable=None, stream="CATALYST_AUDIT")
        out: list[str] = []
        try:
            while True:
                msgs = await sub.fetch(100, timeout=0.5)
                for m in msgs:
                    out.append(decode_event(m.data).type.value)
                    await m.ack()
        except Exception:
            pass
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def switch(run: Controllers, region: str, to: str) -> dict:
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    report = await run.api(
        region, "POST", f"/v1/continuums/{ns}/{name}/dry-run", json={"toRegion": to}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body.get("blockers", []) == [], body
    accepted = await run.api(
        region,
        "POST",
        f"/v1/continuums/{ns}/{name}/switchover",
        json={"toRegion": to, "fingerprint": body["planFingerprint"]},
    )
    assert accepted.status_code == 202, accepted.text
    return accepted.json()


async def test_planned_switchover_then_approved_failback(stack: SimStack) -> None:
    ns, name = stack.spec.namespace, stack.spec.name
    async with controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        holder, gen0 = await lease_holder(stack)
        assert holder == A
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
        assert stack.serving_regions(A) == {B}
        assert await dns_answers(stack, B)
        holder, gen1 = await lease_holder(stack)
        assert holder == B
        assert gen1 > gen0
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
        assert (await lease_holder(stack))[0] == A
        assert await dns_answers(stack, A)
    types = await audit_types(stack)
    assert types.count(AuditType.SWITCHOVER.value) == 2
    assert types.count(AuditType.FAILBACK_COMPLETED.value) == 1
    assert types.count(AuditType.FAILBACK_PENDING.value) >= 1


async def _fingerprint_ok(run: Controllers, region: str, to: str) -> bool:
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    summary = await run.api(region, "GET", f"/v1/continuums/{ns}/{name}")
    return summary.status_code == 200 and summary.json().get("acting") is True
