"""What happens to the writes: planned switchovers back and forth on real PostgreSQL while a
client writes, half of them with the acting controller SIGKILLed (sometimes both) at a random
moment and restarted. Whatever the crash point — before the demotion, between demotion and
promotion (compensation promotes the old primary back with its own token), after — no
acknowledged write is lost, no write is accepted by a demoted Cluster, no two regions write
one timeline, and the pair settles on one writer.

CI runs 2 switchovers (one plain, one with a crash); ``CONTINUUM_RELIABILITY_FULL=1`` runs 20
(``CONTINUUM_RELIABILITY_ITERATIONS`` overrides). Prints the write pause of each switchover.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import anyio
import pytest

from continuum_sim.stack import SimStack
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import check, read_final
from tests.e2e.conftest import eventually
from tests.reliability.harness import (
    approve_failback,
    checking,
    other,
    reliability_spec,
    running_controllers,
    switch,
    switchover_finished,
    wait_settled,
)

pytestmark = pytest.mark.anyio

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
ITERATIONS = int(os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "20" if FULL else "2"))
KILL_WINDOW = (0.0, 1.6)


@pytest.mark.timeout(90 + 30 * ITERATIONS)
async def test_switchovers_and_crashes_lose_no_acknowledged_write(tmp_path: Path) -> None:
    seed = int(os.environ.get("CONTINUUM_RELIABILITY_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    pauses: list[float] = []
    async with SimStack(tmp_path, spec=reliability_spec(real_postgres=True)) as stack:
        assert stack.databases is not None
        approve_failback(stack)
        workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)
        async with running_controllers(stack) as procs, checking(stack):
            async with workload.running():
                holder = await wait_settled(stack, procs)
                for i in range(ITERATIONS):
                    await workload.wait_acks(20)
                    before = len(workload.acks)
                    answer = await switch(procs[holder], other(holder))
                    assert answer.status_code == 202, answer.text
                    if i % 2 == 0:
                        done = await switchover_finished(stack, holder, answer.json()["id"])
                        assert done["result"] == "Succeeded", done
                    else:
                        await anyio.sleep(rng.uniform(*KILL_WINDOW))
                        victims = [holder] if rng.random() < 0.75 else [holder, other(holder)]
                        for region in victims:
                            await procs[region].kill()
                        for region in victims:
                            await procs[region].start()
                    holder = await wait_settled(stack, procs)
                    await eventually(
                        lambda h=holder: workload.acks[-1].region == h,  # type: ignore[misc]
                        what=f"writes on {holder}",
                    )
                    during = check(workload.acks[before - 1 :], {}, [])
                    pauses.append(round(during.pause, 3))
            final = await read_final(stack.databases.dsns()[holder])
        report = check(workload.acks, final, stack.databases.transitions, sent=workload.sent)
    print(f"\nwrites: seed={seed} {report.summary()} pauses_s={pauses}")
    assert report.lost == (), report
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report
