"""A controller crash in the middle of a switchover: region A's instance is cancelled while a
step is under way and started again; the journal rule (``docs/switchover.md``) leads to one
consistent end state, checked at the servers.

A crash during the drain wait (lease still on A) is compensated: A stays the writer, the
drained route and the cordoned primary are restored, no switchover event is stored.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from continuum.messages.audit import AuditType
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import (
    A,
    B,
    audit_events,
    confirm,
    dry_run,
    last_switchover,
    writer_is,
)

pytestmark = pytest.mark.anyio


def _journal_step(stack: SimStack) -> str:
    return str((stack.continuum_status(A).get("switchover") or {}).get("step") or "")


async def _crash_during(stack: SimStack, step: str) -> str:
    """Run A→B and cancel A's instance while ``step`` is under way; start A again and wait
    for the recovered run's record. Returns the switchover id."""
    async with controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        report = await dry_run(run, A, B)
        accepted = await confirm(run, A, B, report["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        sid = str(accepted.json()["id"])
        await eventually(lambda: _journal_step(stack) == step, timeout=10, what=step)
        if step == "drain-http":
            # inside the drain wait: the old primary's backends are already at weight 0
            await eventually(lambda: A not in stack.serving_regions(A), timeout=5)
        run.stop(A)
        assert last_switchover(stack, A) == {}

        async with controllers(stack, regions=(A,)):
            await eventually(
                lambda: last_switchover(stack, A).get("id") == sid, what="recovered run recorded"
            )
        assert "switchover" not in stack.continuum_status(A)
    return sid


async def test_crash_during_the_drain_is_compensated_and_a_stays_the_writer(
    tmp_path: Path,
) -> None:
    async with SimStack(tmp_path, spec=StackSpec(drain_seconds=2)) as stack:
        await _crash_during(stack, "drain-http")
        last = last_switchover(stack, A)
        assert last["result"] == "Compensated", last
        assert last["compensatedSteps"] == ["drain-http", "cordon-old-primary"], last
        assert await writer_is(stack, A) == []
        events = await audit_events(stack)
        assert Counter(e.type for e in events)[AuditType.SWITCHOVER] == 0
        assert len({e.eventId for e in events}) == len(events)  # each event stored once
