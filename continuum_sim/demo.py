"""``continuum demo``: the controller on its embedded default environment.

Two emulated regions with CNPG behaviour, a real nats-server and pdns_server on loopback
(the run command installs them), one controller instance per region, a sample Continuum, and
the API of region A on :8082 (region B on :8083). Without a scenario it prints what to try
and runs until Ctrl-C; ``--scenario switchover`` runs DryRun → Execute → health and prints
each report; ``--scenario failover`` makes region A unreachable and shows region B take over.
Each region's Cluster is backed by a real PostgreSQL instance and a client writes numbered
rows throughout; a scenario ends by printing how many writes were acknowledged, lost,
accepted by a demoted region (split-brain), and the longest write pause, and the interactive
demo prints the same each time the writer region changes.
Every process and file it starts is stopped or removed on exit.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
import asyncpg
import httpx

from continuum.cli.render import duration
from continuum.logs import configure_logging
from continuum_sim import writecheck
from continuum_sim.stack import SimStack, StackSpec, running_controllers
from continuum_sim.workload import WriteWorkload

__all__ = ["run_demo"]

SCENARIOS = ("switchover", "failover")


class _Demo:
    def __init__(self, stack: SimStack, ports: dict[str, int], out: TextIO) -> None:
        self.stack = stack
        self.ports = ports
        self.out = out
        self.scopes: dict[str, anyio.CancelScope] = {}

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def client(self, region: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports[region]}",
            headers={
                "X-Catalyst-Owner-Tier": "true",
                "Authorization": f"Bearer {self.stack.api_token}",
            },
            timeout=30,
        )

    @property
    def path(self) -> str:
        return f"/v1/continuums/{self.stack.spec.namespace}/{self.stack.spec.name}"

    async def summary(self, region: str) -> dict[str, Any]:
        async with self.client(region) as c:
            answer = await c.get(self.path)
        return dict(answer.json()) if answer.status_code == 200 else {}

    async def wait_for(
        self, check: Callable[[], Awaitable[bool]], *, timeout: float, what: str
    ) -> bool:
        """Poll the servers until ``check`` holds; False after ``timeout`` seconds."""
        with anyio.move_on_after(timeout):
            while True:
                if await check():
                    return True
                await anyio.sleep(0.2)
        self.say(f"!! timed out waiting for {what}")
        return False

    def print_dry_run(self, report: dict[str, Any]) -> None:
        self.say(f"DryRun  fingerprint={report['planFingerprint']}")
        for step in report["steps"]:
            met = "ok " if step["preconditionsMet"] else "NO "
            notes = "; ".join(step.get("notes", []))
            self.say(
                f"  {step['step']}. {met} {step['name']:<20} "
                f"~{duration(step['estimatedDurationSeconds']):<6}"
                f"  {notes}"
            )
        for blocker in report.get("blockers", []):
            self.say(f"  BLOCKER  {blocker}")
        for warning in report.get("warnings", []):
            self.say(f"  warning  {warning}")
        self.say(
            f"  estimated {duration(report['estimatedDurationSeconds'])}, write disruption "
            f"~{duration(report['estimatedWriteDisruptionSeconds'])}"
        )

    def print_health(self, report: dict[str, Any]) -> None:
        self.say(f"Health  verdict={report['verdict']}  new primary={report['newPrimaryRegion']}")
        for check in report["checks"]:
            mark = "deferred" if check.get("deferred") else check["status"]
            self.say(f"  {check['name']:<17} {mark:<8} {check.get('detail', '')}")

    async def warm_up(self, *, timeout: float) -> bool:
        """Wait until every region's instance answers ``GET …/health`` healthy: until
        PowerDNS has health-checked its ``ifurlup`` targets, dns-probes fail and the stack
        would look broken to whoever tries it. False (and a note) after ``timeout``."""
        self.say("Warming up: waiting for PowerDNS to health-check the regions (ifurlup)...")

        async def healthy_everywhere() -> bool:
            for region in self.stack.spec.regions:
                async with self.client(region) as c:
                    answer = await c.get(f"{self.path}/health")
                if answer.status_code != 200 or answer.json().get("verdict") != "healthy":
                    return False
            return True

        if await self.wait_for(healthy_everywhere, timeout=timeout, what="a healthy stack"):
            return True
        self.say("!! still warming up: GET …/health may say unhealthy for a little longer")
        return False

    def print_try(self) -> None:
        a, b = self.stack.spec.regions
        token = self.stack.api_token
        api = f"http://127.0.0.1:{self.ports[a]}"
        auth = f"-H 'X-Catalyst-Owner-Tier: true' -H 'Authorization: Bearer {token}'"
        self.say("Continuum demo is running. Try:")
        self.say(f"  curl -s {auth} {api}/v1/continuums | jq")
        self.say(
            f'  curl -s {auth} -X POST {api}{self.path}/dry-run -d \'{{"toRegion": "{b}"}}\' | jq'
        )
        self.say(f"  curl -s {auth} {api}{self.path}/health | jq")
        self.say(f"  curl -s {api}/healthz; curl -s {api}/readyz")
        flags = f"--token {token}" + ("" if self.ports[a] == 8082 else f" --api {api}")
        ref = self.stack.key
        self.say(f"  continuum status {flags}")
        self.say(f"  continuum dry-run {ref} --to {b} {flags}")
        self.say(f"  continuum switchover {ref} --to {b} {flags}")
        self.say(f"  continuum health {ref} {flags}")
        self.say(f"  KUBECONFIG={self.stack.kubeconfig} kubectl --context {a} get dr -A")
        self.say(f"  tail -f {self.stack.workdir / 'controller.log'} | continuum logs")
        self.say(f"Region {b}'s instance serves the same API on :{self.ports[b]}. Ctrl-C stops.")


async def _switchover(demo: _Demo) -> int:
    a, b = demo.stack.spec.regions
    async with demo.client(a) as c:
        dry = (await c.post(f"{demo.path}/dry-run", json={"toRegion": b})).json()
        demo.print_dry_run(dry)
        if dry.get("blockers"):
            return 3
        answer = await c.post(
            f"{demo.path}/switchover", json={"toRegion": b, "fingerprint": dry["planFingerprint"]}
        )
    if answer.status_code != 202:
        demo.say(f"!! switchover refused: {answer.text}")
        return 4
    sid = answer.json()["id"]
    demo.say(f"Switchover {sid}: {a} -> {b}")
    seen: list[str] = []

    async def finished() -> bool:
        summary = await demo.summary(a)
        journal = summary.get("switchover") or {}
        step = journal.get("step")
        if step and step not in seen:
            seen.append(step)
            demo.say(f"  step {journal.get('stepIndex')}/7 {step}")
        last = summary.get("lastSwitchover") or {}
        return bool(last.get("id") == sid)

    if not await demo.wait_for(finished, timeout=120, what="the switchover"):
        return 5
    last = (await demo.summary(a))["lastSwitchover"]
    demo.say(f"Result: {last['result']} in {duration(last['durationSeconds'])}")
    if last["result"] != "Succeeded":
        demo.say(f"  error: {last.get('error', '')}")
        return 5

    async def healthy() -> bool:
        summary = await demo.summary(a)
        return bool((summary.get("lastHealth") or {}).get("switchoverId") == sid)

    if not await demo.wait_for(healthy, timeout=120, what="the post-switchover health check"):
        return 3
    async with demo.client(a) as c:
        report = (await c.get(f"{demo.path}/health")).json()
    demo.print_health(report)
    return 0 if report["verdict"] == "healthy" else 3


async def _failover(demo: _Demo) -> int:
    a, b = demo.stack.spec.regions
    demo.say(f"Region {a} goes dark: its controller stops, its API and database are unreachable.")
    demo.scopes[a].cancel()
    await demo.stack.cnpg.set_unreachable(a)
    demo.stack.app.set_healthy(a, False)
    demo.stack.emulators[a].faults.fail(status=503, count=None, message=f"region {a} is down")

    async def b_is_writer() -> bool:
        summary = await demo.summary(b)
        return bool(summary.get("acting")) and summary.get("actingPrimary") == b

    spec = demo.stack.spec
    budget = spec.ttl_seconds + spec.renew_seconds * (spec.auto_failover_observations + 2) + 60
    demo.say(
        f"Waiting for {b}: lease TTL {spec.ttl_seconds}s, then "
        f"{spec.auto_failover_observations} observations of {a} unreachable..."
    )
    if not await demo.wait_for(b_is_writer, timeout=budget, what=f"{b} to take over"):
        return 5
    summary = await demo.summary(b)
    last = summary.get("lastSwitchover") or {}
    demo.say(
        f"{b} is now the writer (lease gen {summary.get('leaseGeneration')}); "
        f"failover {last.get('result', '?')}, skipped steps needing {a}"
    )
    return 0


async def _with_writes(demo: _Demo, scenario: Callable[[_Demo], Awaitable[int]]) -> int:
    """Run ``scenario`` while a client writes; then print what happened to the writes."""
    databases = demo.stack.databases
    assert databases is not None
    workload = WriteWorkload(databases.dsns, clock=demo.stack.clock)
    async with workload.running():
        await workload.wait_acks(20)
        demo.say("A client writes numbered rows to whichever region's PostgreSQL accepts writes.")
        code = await scenario(demo)
        with anyio.move_on_after(30):
            await workload.wait_acks(20)  # writes resumed on the new writer
    writer = workload.acks[-1].region
    report = writecheck.check(
        workload.acks,
        await writecheck.read_final(databases.dsns()[writer]),
        databases.transitions,
        sent=workload.sent,
    )
    per_region = ", ".join(f"{r} {n}" for r, n in sorted(report.regions.items()))
    demo.say(
        f"Writes: acknowledged {report.acknowledged} ({per_region}), lost {len(report.lost)}, "
        f"split-brain {len(report.split_brain)}"
    )
    demo.say(
        f"  write pause {report.pause * 1000:.0f} ms (last acknowledged write before it "
        f"#{report.pause_from}, first after #{report.pause_to})"
    )
    for rewind in databases.rewinds:
        demo.say(f"  {rewind.instance} rejoined by pg_rewind (diverged at {rewind.diverged_at})")
    return code


async def _interactive_writes(demo: _Demo) -> None:
    """Until cancelled: a client writes a few rows a second, and every writer change is
    narrated (:func:`_narrate_writes`)."""
    databases = demo.stack.databases
    assert databases is not None
    workload = WriteWorkload(databases.dsns, clock=demo.stack.clock, interval=0.05)
    async with workload.running(), anyio.create_task_group() as tg:
        demo.say(
            "A client writes numbered rows to whichever region's PostgreSQL accepts writes; "
            "each writer change is reported here."
        )
        tg.start_soon(_narrate_writes, demo, workload)
        await anyio.sleep_forever()


async def _narrate_writes(demo: _Demo, workload: WriteWorkload) -> None:
    """Interactive mode: each time the writer region changes (a switchover or a failover
    the user started), say what happened to the client's writes since the last change:
    acknowledged, lost, split-brain, the longest pause. Runs until cancelled."""
    databases = demo.stack.databases
    assert databases is not None
    clock = demo.stack.clock
    start, region = 0, ""
    while True:
        await clock.sleep(1.0)
        if not workload.acks:
            continue
        if not region:
            region = workload.acks[-1].region
        if workload.acks[-1].region == region:
            continue
        with anyio.move_on_after(30):
            await workload.wait_acks(20)  # writes resumed on the new writer
        writer = workload.acks[-1].region
        try:
            final = await writecheck.read_final(databases.dsns()[writer])
        except (OSError, asyncpg.PostgresError) as exc:
            demo.say(f"Writer moved {region} -> {writer}; could not read its rows: {exc}")
        else:
            report = writecheck.check(workload.acks[start:], final, databases.transitions)
            demo.say(f"Writer moved {region} -> {writer}: {report.summary()}")
        start, region = len(workload.acks), writer


async def run_demo(
    *,
    scenario: str | None = None,
    api_port: int = 8082,
    workdir: Path | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the demo until Ctrl-C (no scenario) or until the scenario ends; return an exit
    code (0 = the scenario's expected outcome).

    ``api_port`` is region A's API port (region B's is the next one); 0 lets the kernel pick
    both. Without ``workdir`` the files live in a ``continuum-demo-*`` temp dir that is
    removed however the demo ends (return, error, cancellation by SIGINT/SIGTERM); only a
    SIGKILL can leave it behind."""
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="continuum-demo-")) if workdir is None else workdir
    try:
        return await _run_in(base, scenario=scenario, api_port=api_port, out=out)
    finally:
        # Whatever ends the demo (its end, Ctrl-C, SIGTERM: both cancel this task) removes
        # the temp dir, which holds the pdns API key; only --workdir keeps the files.
        if own_dir:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(base, ignore_errors=True))


async def _run_in(base: Path, *, scenario: str | None, api_port: int, out: TextIO) -> int:
    failover = scenario == "failover"
    spec = StackSpec(
        drain_seconds=1,
        auto_failover=failover,
        ttl_seconds=10 if failover else 30,
        renew_seconds=2 if failover else 10,
        real_postgres=True,
        cnpg_delay=0.0,  # the real instances take their own time
    )
    log_file = (base / "controller.log").open("a", encoding="utf-8")
    configure_logging(level="info", fmt="json", stream=log_file)
    code = 0
    try:
        async with SimStack(base, spec=spec) as stack:
            a, b = spec.regions
            # Port 0: each instance binds a free port and reports it (nothing pre-picked).
            wanted: dict[str, int | None] = {a: api_port, b: api_port + 1 if api_port else 0}
            async with running_controllers(stack, wanted, health_delay=5) as started:
                demo = _Demo(stack, {r: started.api_port(r) for r in wanted}, out)
                demo.scopes.update(started.scopes)
                demo.say(f"Stack up in {base} (logs: {base / 'controller.log'}).")
                if scenario == "switchover":
                    code = await _with_writes(demo, _switchover)
                elif scenario == "failover":
                    code = await _with_writes(demo, _failover)
                else:
                    await demo.warm_up(timeout=60)
                    demo.print_try()
                    await _interactive_writes(demo)
    finally:
        # Later lines (the process's own shutdown) go to stderr, not to the closed file.
        configure_logging(level="warning", fmt="json", stream=sys.stderr)
        log_file.close()
    return code
