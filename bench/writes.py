"""What a switchover does to an application's writes, on real PostgreSQL: Continuum.

The embedded stack with a real PostgreSQL instance behind each region's Cluster (region B
streaming from A), one real controller instance per region in-process, and a client writing
numbered rows to whichever region accepts writes (``continuum_sim.workload``), throughout:

* ``--planned N`` planned switchovers back and forth (DryRun + Confirm through the API,
  drain 0, failback pre-approved);
* ``--failovers M`` unplanned failovers: the writer region is lost (its controller stops, its
  PostgreSQL is SIGKILLed, its Kubernetes API answers 503), the other region's instance
  fails over (``autoFailover``: lease TTL ``--ttl`` s, renew every ``--renew`` s, 2
  unreachable observations); the lost region then comes back and rejoins as a standby
  (``pg_rewind``), and the next failover goes the other way.

For each kind it prints the write-unavailability window (the longest gap between two
acknowledged writes around the event) p50 / p99 / max, acknowledged writes lost, and
split-brain writes (acknowledged by a demoted or fenced region), from
``continuum_sim.writecheck``. Asserts nothing.

    python bench/writes.py [--planned 10] [--failovers 3] [--ttl 10] [--renew 2]

``bench/patroni_peer.py`` runs the same measurement for Patroni and prints both.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from continuum.controller import Listening, run_controller
from continuum.http.readiness import Readiness
from continuum.logs import configure_logging
from continuum_sim.stack import SimStack, StackSpec
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import Ack, check, read_final

A, B = "region-a", "region-b"


@dataclass
class Figures:
    """Pauses (seconds) and lost/split-brain counts of one kind of event."""

    pauses: list[float] = field(default_factory=list)
    lost: int = 0
    split_brain: int = 0
    failed: int = 0

    def line(self, name: str) -> str:
        if not self.pauses:
            return f"{name}: no completed run ({self.failed} failed)"
        return (
            f"{name}: n={len(self.pauses)} write pause p50={pct(self.pauses, 50) * 1000:.0f} ms"
            f" p99={pct(self.pauses, 99) * 1000:.0f} ms max={max(self.pauses) * 1000:.0f} ms;"
            f" acknowledged writes lost={self.lost}; split-brain writes={self.split_brain}"
            + (f"; failed runs={self.failed}" if self.failed else "")
        )


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, int(q) - 1)]


def window_pause(acks: list[Ack], start: int) -> float:
    """The longest gap between consecutive acknowledgements from index ``start - 1`` on."""
    part = acks[max(0, start - 1) :]
    return max((b.acked - a.acked for a, b in itertools.pairwise(part)), default=0.0)


class Regions:
    """One in-process controller per region, each stoppable and restartable on its own."""

    def __init__(self, stack: SimStack, tg: Any) -> None:
        self.stack = stack
        self.tg = tg
        self.ports: dict[str, int] = {}
        self.scopes: dict[str, anyio.CancelScope] = {}

    async def start(self, region: str) -> None:
        ready = anyio.Event()
        scope = anyio.CancelScope()
        self.scopes[region] = scope
        # port 0: the controller binds a free port itself and reports it (a restart may get
        # another one)
        settings = self.stack.settings(region, api_port=0)

        async def on_ready(_: Readiness) -> None:
            ready.set()

        def on_listening(where: Listening) -> None:
            if where.api_port is not None:
                self.ports[region] = where.api_port

        async def run() -> None:
            with scope:
                await run_controller(
                    settings,
                    clock=self.stack.clock,
                    on_ready=on_ready,
                    on_listening=on_listening,
                )

        self.tg.start_soon(run)
        with anyio.fail_after(60):
            await ready.wait()

    def stop(self, region: str) -> None:
        self.scopes[region].cancel()

    async def api(self, region: str, method: str, path: str, **kw: Any) -> httpx.Response:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports[region]}",
            headers={
                "X-Catalyst-Owner-Tier": "true",
                "Authorization": f"Bearer {self.stack.api_token}",
            },
            timeout=30,
        ) as client:
            return await client.request(method, path, **kw)


@asynccontextmanager
async def regions_running(stack: SimStack) -> AsyncIterator[Regions]:
    async with anyio.create_task_group() as tg:
        regions = Regions(stack, tg)
        for region in stack.spec.regions:
            await regions.start(region)
        yield regions
        tg.cancel_scope.cancel()


async def until(check_: Any, *, timeout: float, what: str) -> None:
    """Poll ``check_`` (sync or async) until true; AssertionError naming ``what`` after
    ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        while True:
            result = check_()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await anyio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s: {what}")


def last_switchover(stack: SimStack, region: str) -> dict[str, Any]:
    return dict(stack.continuum_status(region).get("lastSwitchover") or {})


async def planned(stack: SimStack, regions: Regions, workload: WriteWorkload, writer: str) -> str:
    """One planned switchover away from ``writer``; returns the new writer."""
    target = B if writer == A else A
    ns, name = stack.spec.namespace, stack.spec.name
    path = f"/v1/continuums/{ns}/{name}"

    async def acting() -> bool:
        summary = await regions.api(writer, "GET", path)
        return summary.status_code == 200 and summary.json().get("acting") is True

    # the new holder's instance adopts the handed-over lease at its next renewal
    await until(acting, timeout=60, what=f"{writer} acting")
    dry = (await regions.api(writer, "POST", f"{path}/dry-run", json={"toRegion": target})).json()
    if "planFingerprint" not in dry:
        raise AssertionError(f"dry-run refused: {dry}")
    answer = await regions.api(
        writer,
        "POST",
        f"{path}/switchover",
        json={"toRegion": target, "fingerprint": dry["planFingerprint"]},
    )
    if answer.status_code != 202:
        raise AssertionError(f"switchover refused: {answer.text}")
    sid = answer.json()["id"]
    await until(
        lambda: last_switchover(stack, writer).get("id") == sid, timeout=120, what="switchover"
    )
    if last_switchover(stack, writer).get("result") != "Succeeded":
        raise AssertionError(f"switchover failed: {last_switchover(stack, writer)}")
    return target


async def failover(stack: SimStack, regions: Regions, workload: WriteWorkload, writer: str) -> str:
    """Lose ``writer``'s region; return once the other region writes and the lost one has
    rejoined as its standby."""
    survivor = B if writer == A else A
    before = last_switchover(stack, survivor).get("id")
    regions.stop(writer)
    await stack.cnpg.set_unreachable(writer)
    stack.app.set_healthy(writer, False)
    stack.emulators[writer].faults.fail(status=503, count=None)
    try:
        await until(
            lambda: (
                last_switchover(stack, survivor).get("id") not in (None, before)
                and last_switchover(stack, survivor).get("result") is not None
            ),
            timeout=120,
            what="failover",
        )
    except AssertionError:
        status = stack.continuum_status(survivor)
        raise AssertionError(
            f"no failover to {survivor}: "
            + str({k: v for k, v in status.items() if k not in ("conditions",)})
            + str(
                [
                    (c.get("type"), c.get("status"), c.get("message"))
                    for c in status.get("conditions", [])
                ]
            )
        ) from None
    await until(lambda: workload.acks[-1].region == survivor, timeout=60, what="writes resumed")
    # the lost region comes back: its stale primary is demoted and rewound
    stack.emulators[writer].faults.clear()
    stack.app.set_healthy(writer, True)
    await stack.cnpg.set_unreachable(writer, False)
    await regions.start(writer)
    assert stack.databases is not None
    await until(
        lambda: stack.acting_primaries() == [survivor], timeout=60, what="stale primary demoted"
    )

    async def streaming() -> bool:
        assert stack.databases is not None
        mine, theirs = await stack.databases.state(writer), await stack.databases.state(survivor)
        return mine.ready and mine.in_recovery and mine.timeline == theirs.timeline

    await until(streaming, timeout=60, what="lost region streaming again")
    return survivor


async def measure_continuum(
    *, planned_runs: int, failovers: int, ttl: int, renew: int, workdir: Path
) -> dict[str, Figures]:
    """Run the events on one stack while writing; figures per kind."""
    spec = StackSpec(
        drain_seconds=0,
        auto_failover=True,
        auto_failover_observations=2,
        ttl_seconds=ttl,
        renew_seconds=renew,
        real_postgres=True,
        cnpg_delay=0.0,
    )
    out = {"planned": Figures(), "failover": Figures()}
    windows: list[tuple[str, int, int]] = []
    async with SimStack(workdir, spec=spec) as stack:
        assert stack.databases is not None
        _approve_failback(stack)
        workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)
        async with regions_running(stack) as regions, workload.running():
            await until(
                lambda: (stack.continuum_status(A).get("leaseHolder") or "") == A,
                timeout=60,
                what="A holds the lease",
            )
            writer = A
            plan = ["planned"] * planned_runs + ["failover"] * failovers
            for kind in plan:
                await workload.wait_acks(50, timeout=60)
                start = len(workload.acks)
                try:
                    step = planned if kind == "planned" else failover
                    writer = await step(stack, regions, workload, writer)
                    await until(
                        lambda w=writer: workload.acks[-1].region == w,
                        timeout=60,
                        what="writes on the new writer",
                    )
                    await workload.wait_acks(20, timeout=60)
                except (AssertionError, TimeoutError) as exc:
                    print(f"  {kind} run failed: {exc!r}", flush=True)
                    out[kind].failed += 1
                    continue
                out[kind].pauses.append(window_pause(workload.acks, start))
                windows.append((kind, workload.acks[max(0, start - 1)].seq, workload.acks[-1].seq))
                print(f"  {kind}: pause {out[kind].pauses[-1] * 1000:.0f} ms", flush=True)
        primaries = [
            r for r in stack.spec.regions if not (await stack.databases.state(r)).in_recovery
        ]
        final = await read_final(stack.databases.dsns()[primaries[0] if primaries else writer])
        report = check(workload.acks, final, stack.databases.transitions, sent=workload.sent)
    for kind, first, last in windows:
        out[kind].lost += sum(1 for s in report.lost if first <= s <= last)
        out[kind].split_brain += sum(1 for s in report.split_brain if first <= s <= last)
    print(f"  Continuum overall: {report.summary()}", flush=True)
    return out


def _approve_failback(stack: SimStack) -> None:
    ns, name = stack.spec.namespace, stack.spec.name
    for emulator in stack.emulators.values():
        cr = emulator.store.get("dr.openova.io", "continuums", ns, name)
        assert cr is not None
        cr["spec"]["failback"] = {"approved": True, "approvedBy": "bench"}
        cr.pop("status", None)
        emulator.apply(cr)


def quiet_logs() -> None:
    logging.disable(logging.CRITICAL)
    structlog.configure(
        processors=[lambda *_: (_ for _ in ()).throw(structlog.DropEvent)],
        cache_logger_on_first_use=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planned", type=int, default=10)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--ttl", type=int, default=10)
    parser.add_argument("--renew", type=int, default=2)
    parser.add_argument("--log", type=Path, help="write the controllers' JSON log here")
    args = parser.parse_args()
    if args.log is None:
        quiet_logs()
    else:
        configure_logging(level="info", fmt="json", stream=args.log.open("a", encoding="utf-8"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="continuum-bench-writes-") as tmp:
        figures = anyio.run(
            lambda: measure_continuum(
                planned_runs=args.planned,
                failovers=args.failovers,
                ttl=args.ttl,
                renew=args.renew,
                workdir=Path(tmp),
            )
        )
    print(figures["planned"].line("Continuum planned switchover"))
    print(figures["failover"].line(f"Continuum unplanned failover (ttl {args.ttl}s)"))
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
