"""Load: the acting instance's API at concurrency 200 (a separate load-generator process)
for 10 s in CI (30 s with ``CONTINUUM_RELIABILITY_FULL=1``) while switchovers run through
it. No answer may be a 5xx (nor a transport error) and the switchover under load succeeds
with the continuous invariants holding. How much longer it takes than the same switchover on a
quiet API is printed (``ratio=``), not asserted: on a shared 2-core machine that figure
depends on what else runs, and speed is measured by ``bench/``, never asserted by a test.

The switchover here carries a 2 s drain, the shape of a real one (a wait on the clock plus
API round trips).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from continuum_sim.stack import SimStack
from tests.reliability.harness import (
    ControllerProcess,
    approve_failback,
    assert_stored_once,
    checking,
    other,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    switchover_finished,
    wait_settled,
)

pytestmark = pytest.mark.anyio

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
LOAD_SECONDS = 30 if FULL else 10
CONCURRENCY = 200


async def _switch_and_time(stack: SimStack, procs: dict[str, ControllerProcess]) -> float:
    holder = await wait_settled(stack, procs)
    answer = await switch(procs[holder], other(holder))
    assert answer.status_code == 202, answer.text
    done = await switchover_finished(stack, holder, answer.json()["id"])
    assert done["result"] == "Succeeded", done
    return float(done["durationSeconds"])


def _start_load(proc: ControllerProcess, seconds: int, to: str) -> subprocess.Popen[str]:
    stack = proc.stack
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reliability.loadgen",
            f"http://127.0.0.1:{proc.port}",
            stack.api_token,
            str(seconds),
            str(CONCURRENCY),
            stack.spec.namespace,
            stack.spec.name,
            to,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


async def _load_result(load: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    await anyio.to_thread.run_sync(lambda: load.wait(timeout))
    assert load.stdout is not None
    assert load.returncode == 0
    result: dict[str, Any] = json.loads(load.stdout.read().strip().splitlines()[-1])
    return result


@pytest.mark.timeout(120 + 3 * LOAD_SECONDS)
async def test_api_under_concurrency_200_answers_no_5xx_and_switchover_timing_holds(
    tmp_path: Path,
) -> None:
    spec = dataclasses.replace(reliability_spec(), drain_seconds=2)
    async with SimStack(tmp_path, spec=spec) as stack:
        approve_failback(stack)
        async with running_controllers(stack) as procs, checking(stack) as checker:
            quiet = [await _switch_and_time(stack, procs) for _ in range(2)]
            holder = await wait_settled(stack, procs)
            load = _start_load(procs[holder], LOAD_SECONDS, other(holder))
            try:
                await anyio.sleep(1.0)  # the load is at full concurrency
                loaded = [await _switch_and_time(stack, procs)]
                # The second one runs on the other instance; keep the load on the acting one.
                result = await _load_result(load, timeout=LOAD_SECONDS + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            for proc in procs.values():
                assert proc.alive, proc.log_tail()
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    statuses: dict[str, int] = result["statuses"]
    bad = {k: v for k, v in statuses.items() if not k.isdigit() or int(k) >= 500}
    assert bad == {}, result
    assert result["requests"] > 0
    baseline = statistics.mean(quiet)
    slowest = max(loaded)
    print(
        f"\nload: {result} quiet_switchover_s={[round(q, 3) for q in quiet]} "
        f"loaded_switchover_s={[round(x, 3) for x in loaded]} "
        f"ratio={slowest / baseline:.3f} checker_samples={checker.samples}"
    )
