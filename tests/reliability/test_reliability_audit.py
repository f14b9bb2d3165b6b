"""The durable audit outbox with real processes: the audit stream's nats-server is stopped,
a switchover runs (its events are accepted: in the outbox ConfigMaps, not in the stream),
both controllers are SIGKILLed and restarted, then the server starts again → every accepted
event is in the stream exactly once by ``eventId``, and the outbox ConfigMaps are gone.

The audit stream has its own nats-server here, so the witness (NATS KV on the stack's own
server) keeps working while the audit server is down — a switchover needs its witness.

``test_outage_past_the_outbox_limit``: the same with ``CONTINUUM_AUDIT_OUTBOX_LIMIT`` below
what the switchover emits: the emitters wait (back-pressure), readiness and the metrics say
so, and after the SIGKILL and the restart nothing is missing or doubled either.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from continuum.adapters.audit_outbox import OUTBOX_LABEL
from continuum.messages.audit import AuditEvent, AuditType, decode_event
from continuum_sim.nats import NatsServer
from continuum_sim.stack import SimStack
from tests.reliability.harness import (
    ControllerProcess,
    approve_failback,
    checking,
    eventually,
    other,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio

OUTBOX_NAMESPACE = "openova-system"


def outbox_events(stack: SimStack) -> list[AuditEvent]:
    """Every event held in an outbox ConfigMap of any region (what was accepted and not
    yet known stored)."""
    out: list[AuditEvent] = []
    for emulator in stack.emulators.values():
        for cm in emulator.store.objects("", "configmaps", OUTBOX_NAMESPACE):
            if OUTBOX_LABEL in (cm["metadata"].get("labels") or {}):
                for raw in json.loads(cm["data"]["events.json"]):
                    out.append(decode_event(json.dumps(raw).encode()))
    return out


def outbox_records(stack: SimStack) -> int:
    return sum(
        1
        for emulator in stack.emulators.values()
        for cm in emulator.store.objects("", "configmaps", OUTBOX_NAMESPACE)
        if OUTBOX_LABEL in (cm["metadata"].get("labels") or {})
    )


async def run_scenario(
    tmp_path: Path, *, extra: dict[str, str] | None = None, expect_backpressure: bool = False
) -> dict[str, Any]:
    async with (
        SimStack(tmp_path, spec=reliability_spec()) as stack,
        NatsServer(tmp_path / "audit-nats") as audit,
    ):
        approve_failback(stack)
        env = {"CONTINUUM_NATS_URL": audit.url, **(extra or {})}
        async with (
            running_controllers(stack, extra={r: env for r in stack.spec.regions}) as procs,
            checking(stack),
        ):
            holder = await wait_settled(stack, procs)
            await eventually(lambda: outbox_records(stack) == 0, timeout=30, what="drained")
            before = Counter(e.eventId for e in await stored_audit_events(stack, url=audit.url))
            await audit.stop()
            target = other(holder)
            answer = await switch(procs[holder], target)
            assert answer.status_code == 202, answer.text
            if expect_backpressure:
                await eventually(
                    lambda: _full(procs[holder]), timeout=60, what="outbox full, emitters wait"
                )
                ready = await procs[holder].api("GET", "/readyz")
                assert ready.status_code != 200, ready.text
            else:
                await eventually(
                    lambda: any(e.type is AuditType.SWITCHOVER for e in outbox_events(stack)),
                    timeout=60,
                    what="the switchover event accepted (in an outbox ConfigMap)",
                )
                # The new writer's lease events and the heartbeats land in the outbox too.
                await wait_settled(stack, procs)
                await anyio.sleep(2)
            accepted = {e.eventId: e for e in outbox_events(stack)}
            assert accepted, "nothing accepted while the audit server was down"
            for proc in procs.values():
                await proc.kill()
            assert {e.eventId for e in outbox_events(stack)} >= set(accepted)
            for proc in procs.values():
                await proc.start()
            await audit.start()
            await eventually(lambda: outbox_records(stack) == 0, timeout=90, what="drained")
            holder = await wait_settled(stack, procs, timeout=60)
        stored = await stored_audit_events(stack, url=audit.url)
    counts = Counter(e.eventId for e in stored)
    missing = [e.type.value for i, e in accepted.items() if counts[i] == 0]
    doubled = sorted(i for i, n in counts.items() if n > 1)
    assert missing == [], f"accepted audit events never stored: {missing}"
    assert doubled == [], f"audit events stored more than once: {doubled[:5]}"
    assert set(before) <= set(counts)
    return {
        "accepted": len(accepted),
        "stored": sum(1 for i in accepted if counts[i] == 1),
        "duplicates": len(doubled),
        "types": sorted(Counter(e.type.value for e in accepted.values()).items()),
        "holder": holder,
        "target": target,
    }


async def _full(proc: ControllerProcess) -> bool:
    samples = await proc.metrics()
    return samples.get("continuum_audit_outbox_full", 0) == 1


@pytest.mark.timeout(240)
async def test_audit_server_down_switchover_sigkill_restart_stores_every_event_once(
    tmp_path: Path,
) -> None:
    result = await run_scenario(tmp_path)
    assert "continuum-switchover" in dict(result["types"])
    print(f"\naudit-outage-sigkill: {result}")


@pytest.mark.timeout(240)
async def test_outage_past_the_outbox_limit_is_back_pressure_then_stored_once(
    tmp_path: Path,
) -> None:
    result = await run_scenario(
        tmp_path, extra={"CONTINUUM_AUDIT_OUTBOX_LIMIT": "2"}, expect_backpressure=True
    )
    assert result["accepted"] >= 2
    print(f"\naudit-outage-past-limit: {result}")
