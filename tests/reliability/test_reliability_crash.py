"""Crash: the controller of the acting region (a real ``continuum run`` subprocess) is killed
with SIGKILL at a random moment of a switchover and restarted; the journal rule must bring the
pair back to exactly one writer agreed on by the witness, CNPG and DNS, with no journal left
and every audit event stored once.

Repeated crashes: the same, then killed again at a random moment after each restart (while it
recovers the journal or compensates), two or three kills per switchover; afterwards the
routes of both regions serve the holder too, the CR says ``Ready``/``Converged`` only once
that holds, and ``lastSwitchover.result`` matches where the writer ended up.

CI runs a bounded sample; ``CONTINUUM_RELIABILITY_FULL=1`` runs the full variant (30
iterations by default, ``CONTINUUM_RELIABILITY_ITERATIONS`` overrides). A run prints its
seed; ``CONTINUUM_RELIABILITY_SEED`` replays the same kill schedule.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from continuum_sim.stack import SimStack
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import check, read_final
from tests.e2e.conftest import eventually
from tests.e2e.helpers import last_switchover
from tests.reliability.harness import (
    ControllerProcess,
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
# The first kill of the repeated-crash test lands anywhere in a whole switchover (with the
# stable-DNS rule of flip-dns it takes 1.5-2.5 s here), so recovery goes forward (after the
# handover) as often as back. After a restart the instance recovers its journal within about
# a second: a second (and third) kill lands anywhere in that window.
REPEATED_KILL_WINDOW = (0.0, 3.0)
RECOVERY_KILL_WINDOW = (0.0, 1.2)
REPEATED_ITERATIONS = int(os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "30" if FULL else "3"))
REPEATED_PG_ITERATIONS = int(
    os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "20" if FULL else "2")
)
# A CR copy learns of a handover at its instance's next lease read (every renewal here, 1 s)
# and says so with the next status write: it may keep saying Ready=True for at most this long
# after the servers stopped agreeing (3.3 s was the longest seen in 30 iterations at load 4).
STATUS_GRACE = 8.0


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


def _seed() -> int:
    return int(os.environ.get("CONTINUUM_RELIABILITY_SEED", str(int(time.time()))))


async def _kill_and_restart(procs: dict[str, ControllerProcess], victims: list[str]) -> None:
    for region in victims:
        await procs[region].kill()
    for region in victims:
        await procs[region].start()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class RepeatedCrashes:
    """What :func:`_repeated_crashes` did: outcomes, kills per switchover, time from the last
    restart to settled."""

    outcomes: dict[str, int] = field(default_factory=lambda: {"moved": 0, "stayed": 0})
    kills_per_run: list[int] = field(default_factory=list)
    converge_s: list[float] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"kills_per_switchover={self.kills_per_run} outcomes={self.outcomes} "
            f"converge_after_last_restart_s p50={_percentile(self.converge_s, 0.5):.2f} "
            f"max={max(self.converge_s):.2f}"
        )


async def _repeated_crashes(
    stack: SimStack,
    procs: dict[str, ControllerProcess],
    rng: random.Random,
    iterations: int,
    *,
    after_each: Callable[[str], Awaitable[None]] | None = None,
) -> RepeatedCrashes:
    """Each iteration: a switchover holder → other; SIGKILL the holder's instance (sometimes
    both) at a random moment of it, restart, kill again at a random moment of the recovery
    (a third time in about a third of the iterations), restart. Then, within 40 s: one
    unfenced primary = lease holder, DNS and both regions' routes agree, no journal, the
    holder's CR copy says Ready and Converged, the lease generation did not go back, and the
    run's ``lastSwitchover.result`` is Succeeded exactly when the writer moved.
    ``after_each(holder)`` runs once settled."""
    seen = RepeatedCrashes()
    holder = await wait_settled(stack, procs, routes=True, ready=True)
    for _ in range(iterations):
        source, target = holder, other(holder)
        _, gen_before, _ = await read_lease(stack)
        answer = await switch(procs[source], target)
        assert answer.status_code == 202, answer.text
        sid = answer.json()["id"]
        kills_before = sum(p.kills for p in procs.values())
        await anyio.sleep(rng.uniform(*REPEATED_KILL_WINDOW))
        await _kill_and_restart(procs, [source] if rng.random() < 0.75 else [source, target])
        for _ in range(2 if rng.random() < 0.35 else 1):
            await anyio.sleep(rng.uniform(*RECOVERY_KILL_WINDOW))
            await _kill_and_restart(procs, [source] if rng.random() < 0.8 else [source, target])
        restarted = time.monotonic()
        seen.kills_per_run.append(sum(p.kills for p in procs.values()) - kills_before)
        holder = await wait_settled(stack, procs, routes=True, ready=True)
        seen.converge_s.append(time.monotonic() - restarted)
        _, gen_after, _ = await read_lease(stack)
        assert gen_after >= gen_before
        moved = holder == target
        seen.outcomes["moved" if moved else "stayed"] += 1
        last = last_switchover(stack, source)
        if last.get("id") == sid:
            # The run finished as recorded: Succeeded means the writer moved, and a writer
            # that moved was not reported Compensated or Failed.
            assert (last["result"] == "Succeeded") == moved, (last, holder)
        if after_each is not None:
            await after_each(holder)
    return seen


@pytest.mark.timeout(90 + 45 * REPEATED_ITERATIONS)
async def test_repeated_sigkills_while_recovering_converge_to_one_writer_and_say_so(
    tmp_path: Path,
) -> None:
    """:func:`_repeated_crashes` on the status-only CNPG emulation, with the invariant
    checker throughout: never two primaries, the lease never taken while live, and no CR
    copy saying Ready=True for more than ``STATUS_GRACE`` while the servers disagree with
    the lease holder; every audit event stored once."""
    seed = _seed()
    async with SimStack(tmp_path, spec=reliability_spec()) as stack:
        approve_failback(stack)
        async with (
            running_controllers(stack) as procs,
            checking(stack, status_grace=STATUS_GRACE) as checker,
        ):
            seen = await _repeated_crashes(stack, procs, random.Random(seed), REPEATED_ITERATIONS)
        kills = sum(p.kills for p in procs.values())
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    assert kills >= 2 * REPEATED_ITERATIONS
    print(
        f"\nrepeated crashes: iterations={REPEATED_ITERATIONS} seed={seed} kills={kills} "
        f"{seen.summary()} violations=0 longest_ready_while_wrong_s="
        f"{checker.longest_ready_while_wrong:.2f} checker_samples={checker.samples} "
        f"lease_revisions={len(checker.leases)} audit_events={len(events)} duplicates=0"
    )


@pytest.mark.timeout(120 + 60 * REPEATED_PG_ITERATIONS)
async def test_repeated_sigkills_on_real_postgres_lose_no_acknowledged_write(
    tmp_path: Path,
) -> None:
    """The same repeated crashes with real PostgreSQL behind the Clusters and a client
    writing throughout: after each, writes land on the holder again; at the end no
    acknowledged write is lost, none was accepted by a demoted or fenced Cluster, and no two
    regions wrote one timeline."""
    seed = _seed()
    async with SimStack(tmp_path, spec=reliability_spec(real_postgres=True)) as stack:
        assert stack.databases is not None
        approve_failback(stack)
        workload = WriteWorkload(stack.databases.dsns, clock=stack.clock)

        async def writes_resume(holder: str) -> None:
            await eventually(lambda: workload.acks[-1].region == holder, what=f"writes on {holder}")

        async with running_controllers(stack) as procs, checking(stack) as checker:
            async with workload.running():
                await workload.wait_acks(20)
                seen = await _repeated_crashes(
                    stack,
                    procs,
                    random.Random(seed),
                    REPEATED_PG_ITERATIONS,
                    after_each=writes_resume,
                )
            holder = await wait_settled(stack, procs)
            final = await read_final(stack.databases.dsns()[holder])
        report = check(workload.acks, final, stack.databases.transitions, sent=workload.sent)
        kills = sum(p.kills for p in procs.values())
    print(
        f"\nrepeated crashes on real PostgreSQL: iterations={REPEATED_PG_ITERATIONS} "
        f"seed={seed} kills={kills} {seen.summary()} {report.summary()} "
        f"checker_samples={checker.samples}"
    )
    assert report.lost == (), report
    assert report.split_brain == (), report
    assert report.timeline_anomalies == (), report
