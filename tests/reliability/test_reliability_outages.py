"""Outages of the real servers in the middle of a switchover.

* nats-server (witness *and* audit stream) restarted while a switchover runs: the run ends
  one way or the other with exactly one writer, and no audit event is lost or stored twice
  (every controller's outbox drains to 0 with 0 dropped; eventIds unique in the stream).
* pdns_server killed the moment the journal says ``flip-dns`` starts: the run is
  compensated (the writer stays where it was, DNS never moved), and once pdns is back a
  retry of the same switchover succeeds.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from continuum.messages.audit import AuditType
from continuum_sim.kube.watch import WatchEvent
from continuum_sim.stack import SimStack
from tests.reliability.harness import (
    CONTINUUM,
    A,
    B,
    ControllerProcess,
    approve_failback,
    assert_stored_once,
    checking,
    eventually,
    last_switchover,
    other,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio


async def _outboxes_drained(procs: dict[str, ControllerProcess]) -> bool:
    for proc in procs.values():
        samples = await proc.metrics()
        if samples.get("continuum_audit_outbox_depth", 0) != 0:
            return False
    return True


async def test_nats_restart_during_switchover_loses_no_audit_event(tmp_path: Path) -> None:
    restarts: list[tuple[float, str]] = []
    async with SimStack(tmp_path, spec=reliability_spec()) as stack:
        approve_failback(stack)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            holder = await wait_settled(stack, procs)
            for delay in (0.1, 0.5, 1.0):
                before = last_switchover(stack, holder).get("id")
                answer = await switch(procs[holder], other(holder))
                assert answer.status_code == 202, answer.text
                sid = answer.json()["id"]
                await anyio.sleep(delay)
                await stack.nats.restart()
                await eventually(
                    lambda h=holder, b=before: last_switchover(stack, h).get("id") not in (b,),
                    timeout=60,
                    what="the switchover finished",
                )
                result = last_switchover(stack, holder)
                assert result["id"] == sid
                restarts.append((delay, str(result.get("result"))))
                holder = await wait_settled(stack, procs, timeout=60)
            await eventually(lambda: _outboxes_drained(procs), timeout=30, what="outboxes empty")
            for proc in procs.values():
                assert (await proc.metrics()).get("continuum_audit_dropped_total", 0) == 0
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    stored = [e for e in events if e.type is AuditType.SWITCHOVER]
    succeeded = [r for _, r in restarts if r == "Succeeded"]
    assert len(stored) == len(succeeded), (restarts, [e.message for e in stored])
    print(
        f"\noutage nats: restarts(delay, result)={restarts} audit_events={len(events)} "
        f"switchover_events={len(stored)} samples={checker.samples} holders={checker.holders()}"
    )


async def test_pdns_killed_during_dns_flip_is_compensated_then_retry_succeeds(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=reliability_spec()) as stack:
        killed: list[str] = []

        def kill_pdns_at_flip(event: WatchEvent) -> None:
            journal = ((event.object.get("status") or {}).get("switchover")) or {}
            if (
                not killed
                and (event.group_resource == CONTINUUM)
                and journal.get("step") == "flip-dns"
                and stack.pdns.pid is not None
            ):
                os.kill(stack.pdns.pid, signal.SIGKILL)
                killed.append(str(journal.get("id")))

        unsubscribe = stack.emulators[A].store.subscribe(kill_pdns_at_flip)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            assert await wait_settled(stack, procs) == A
            answer = await switch(procs[A], B)
            assert answer.status_code == 202, answer.text
            sid = answer.json()["id"]
            await eventually(
                lambda: last_switchover(stack, A).get("id") == sid,
                timeout=60,
                what="the switchover finished",
            )
            unsubscribe()
            failed = last_switchover(stack, A)
            assert killed == [sid]
            assert failed["result"] != "Succeeded", failed
            assert failed.get("failedAtStep") == "flip-dns", failed
            await stack.pdns.stop()
            await stack.pdns.start()
            assert await wait_settled(stack, procs, timeout=60) == A
            retry = await switch(procs[A], B)
            assert retry.status_code == 202, retry.text
            await eventually(
                lambda: last_switchover(stack, A).get("id") == retry.json()["id"],
                timeout=60,
                what="the retry finished",
            )
            assert last_switchover(stack, A)["result"] == "Succeeded"
            assert await wait_settled(stack, procs, timeout=60) == B
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    print(
        f"\noutage pdns: failed={failed} retry=Succeeded audit_events={len(events)} "
        f"samples={checker.samples} holders={checker.holders()}"
    )
