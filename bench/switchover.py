"""Switchover benchmark: N planned switchovers back and forth (A→B, B→A, ...) on the embedded
stack — two emulated regions with the CNPG operator emulation, real nats-server (witness and
audit), real pdns_server — with one real controller instance per region, in-process, driven
through the HTTP API exactly as an operator would: DryRun, then Confirm with its fingerprint.

Drain 0; the CNPG emulation's demotion/promotion delay is ``--cnpg-delay`` (default 0: what
is measured is Continuum, not a database). Failback is pre-approved in the CR. The lease is
renewed every second so that the new writer's instance adopts the lease quickly between runs
(that wait is not part of a run).

Figures (the actor's own measurements, from its ``switchover_step``/``switchover_finished``
log events; the same monotonic clock as ``status.lastSwitchover.durationSeconds``):

* total run duration p50 / p99 / max (journal writes included);
* per-step p50 / p99 (each step's action, journal write excluded);
* the API round trip of Confirm (202) p50.

Target: total p50 under 250 ms. Prints figures; asserts nothing.

    python bench/switchover.py [--runs 50] [--cnpg-delay 0.0]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import msgspec
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from continuum.messages.switchover import STEP_ORDER
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import Controllers, controllers

A, B = "region-a", "region-b"


class Collector:
    """A structlog processor keeping the switchover events and dropping everything else."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, _logger: Any, _name: str, event: Any) -> Any:
        if event.get("event") in ("switchover_step", "switchover_finished"):
            self.events.append(dict(event))
        raise structlog.DropEvent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


def approve_failback(stack: SimStack) -> None:
    for emulator in stack.emulators.values():
        cr = emulator.store.get(
            "dr.openova.io", "continuums", stack.spec.namespace, stack.spec.name
        )
        assert cr is not None
        body = msgspec.json.decode(msgspec.json.encode(cr))
        body["spec"]["failback"] = {"approved": True, "approvedBy": "bench"}
        emulator.apply(body)


async def acting(run: Controllers, region: str) -> bool:
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    answer = await run.api(region, "GET", f"/v1/continuums/{ns}/{name}")
    return answer.status_code == 200 and bool(answer.json().get("acting"))


async def wait_for(check: Any, *, timeout: float = 30.0) -> None:
    """Poll the servers (not a timer) until ``check`` holds, bounded."""
    with anyio.fail_after(timeout):
        while True:
            if await check():
                return
            await anyio.sleep(0.02)


async def one_switchover(run: Controllers, frm: str, to: str) -> tuple[str, float]:
    ns, name = run.stack.spec.namespace, run.stack.spec.name
    base = f"/v1/continuums/{ns}/{name}"
    async with run.client(frm) as client:
        report = (await client.post(f"{base}/dry-run", json={"toRegion": to})).json()
        assert not report.get("blockers"), report
        t0 = time.perf_counter()
        answer = await client.post(
            f"{base}/switchover", json={"toRegion": to, "fingerprint": report["planFingerprint"]}
        )
        confirm = time.perf_counter() - t0
        assert answer.status_code == 202, answer.text
        sid = str(answer.json()["id"])

        async def recorded() -> bool:
            summary = (await client.get(base)).json()
            last = summary.get("lastSwitchover") or {}
            return bool(last.get("id") == sid)

        await wait_for(recorded)
        last = (await client.get(base)).json()["lastSwitchover"]
        assert last["result"] == "Succeeded", last
    return sid, confirm


async def main(runs: int, cnpg_delay: float) -> None:
    collector = Collector()
    structlog.configure(processors=[collector], cache_logger_on_first_use=False)
    logging.getLogger().setLevel(logging.ERROR)
    spec = StackSpec(drain_seconds=0, cnpg_delay=cnpg_delay, ttl_seconds=10, renew_seconds=1)
    with tempfile.TemporaryDirectory(prefix="bench-switchover-") as tmp:
        async with SimStack(Path(tmp), spec=spec) as stack:
            approve_failback(stack)
            async with controllers(stack) as run:
                await wait_for(lambda: acting(run, A))
                confirms: list[float] = []
                ids: list[str] = []
                frm, to = A, B
                for _ in range(runs):
                    sid, confirm = await one_switchover(run, frm, to)
                    ids.append(sid)
                    confirms.append(confirm)
                    frm, to = to, frm
                    await wait_for(lambda r=frm: acting(run, r))

    totals = [
        float(e["seconds"])
        for e in collector.events
        if e["event"] == "switchover_finished" and e.get("id") in ids
    ]
    per_step: dict[str, list[float]] = defaultdict(list)
    for e in collector.events:
        if e["event"] == "switchover_step" and e.get("kind") == "finished":
            per_step[e["step"]].append(float(e["seconds"]))
    print(f"switchovers: {len(totals)} (drain 0, cnpg delay {cnpg_delay:g} s), back and forth")
    print(
        f"total     p50 {ms(pct(totals, 50))}   p99 {ms(pct(totals, 99))}   "
        f"max {ms(max(totals))}   mean {ms(statistics.fmean(totals))}"
    )
    print(f"confirm (API 202 round trip) p50 {ms(pct(confirms, 50))}")
    for step in STEP_ORDER:
        values = per_step.get(step.value, [])
        print(f"  {step.value:22s} p50 {ms(pct(values, 50))}   p99 {ms(pct(values, 99))}")
    steps_p50 = sum(pct(per_step.get(s.value, []), 50) for s in STEP_ORDER)
    print(f"  {'(sum of step p50s)':22s}     {ms(steps_p50)}")
    print(f"  {'(journal + rest)':22s}     {ms(pct(totals, 50) - steps_p50)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cnpg-delay", type=float, default=0.0)
    args = parser.parse_args()
    anyio.run(main, args.runs, args.cnpg_delay)
