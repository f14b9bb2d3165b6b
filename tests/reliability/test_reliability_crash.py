"""Crash: the controller of the acting region (a real ``continuum run`` subprocess) is killed
with SIGKILL at a random moment of a switchover and restarted; the journal rule must bring the
pair back to exactly one writer agreed on by the witness, CNPG and DNS, with no journal left
and every audit event stored once.

CI runs a bounded sample; ``CONTINUUM_RELIABILITY_FULL=1`` runs the full variant (30
iterations by default, ``CONTINUUM_RELIABILITY_ITERATIONS`` overrides).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import anyio
import pytest

from continuum_sim.stack import SimStack
from tests.reliability.harness import (
    approve_failback,
    assert_stored_once,
    checking,
    other,
    read_lease,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
ITERATIONS = int(os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "30" if FULL else "6"))
# A switchover here (no drain, 0.2 s CNPG handshake, DNS verify) takes about 1-2 s; kills
# land anywhere from "just accepted" to "already finished".
KILL_WINDOW = (0.0, 1.6)


@pytest.mark.timeout(60 + 25 * ITERATIONS)
async def test_sigkill_during_switchovers_never_leaves_two_writers_or_a_journal(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("CONTINUUM_RELIABILITY_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    outcomes: dict[str, int] = {"moved": 0, "stayed": 0}
    schedule: list[float] = []
    async with SimStack(tmp_path, spec=reliability_spec()) as stack:
        approve_failback(stack)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            holder = await wait_settled(stack, procs)
            for _ in range(ITERATIONS):
                target = other(holder)
                _, gen_before, _ = await read_lease(stack)
                answer = await switch(procs[holder], target)
                assert answer.status_code == 202, answer.text
                delay = rng.uniform(*KILL_WINDOW)
                schedule.append(round(delay, 3))
                await anyio.sleep(delay)
                victims = [holder] if rng.random() < 0.75 else [holder, target]
                for region in victims:
                    await procs[region].kill()
                for region in victims:
                    await procs[region].start()
                new_holder = await wait_settled(stack, procs)
                _, gen_after, _ = await read_lease(stack)
                assert gen_after >= gen_before
                outcomes["moved" if new_holder == target else "stayed"] += 1
                holder = new_holder
        kills = sum(p.kills for p in procs.values())
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    assert kills >= ITERATIONS
    print(
        f"\ncrash: iterations={ITERATIONS} seed={seed} kills={kills} outcomes={outcomes} "
        f"kill_delays_s={schedule} checker_samples={checker.samples} "
        f"lease_revisions={len(checker.leases)} holders={checker.holders()} "
        f"audit_events={len(events)} duplicates=0"
    )
