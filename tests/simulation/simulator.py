"""Runs a schedule against two regions' instances and the simulated world, checking the
invariants after every event.

``run(schedule)`` is deterministic: one asyncio loop, the fake clock, in-memory edges, and the
simulator choosing what happens next (mailboxes in region order, timers in clock order).
Every timer due by the clock fires at once, in (due, arming) order, and a repeating timer
that fell behind skips its missed ticks, as the actor runtime's ``TimerQueue`` does. After the
schedule comes a calm phase (faults healed, partitions healed, dead instances restarted, only
time passing: ``CALM_SECONDS`` of simulated time) at the end of which the liveness invariants
must hold.

Invariants (kind → meaning):

* ``two-actors`` — two instances act as writer at the same moment;
* ``epoch-reused`` — an instance acts under a fencing epoch not above one another region
  already acted under;
* ``two-primaries`` — both Clusters act as primary while both regions are reachable, in a run
  that never had a partition; ``two-primaries-after-partition`` — the same beyond one
  observation cadence after a partition healed, after the writer began acting and after its
  last write to the pair that met a fault (a demotion refused is tried again; a stale
  primary nobody fenced: issue 13, item 4; the writer's observation fences it, and a writer
  that is down, or cannot renew, fences nothing; the calm phase's end judges a world that
  never got one; a writer whose observation fell due within the bound but has not had its
  turn yet — the clock jumped past its timer inside another instance's call — is judged once
  it has had it, as a status is for ``healthy-but-world-disagrees``);
* ``healthy-but-world-disagrees`` — a live region's status says ``Healthy`` (no switchover in
  its journal) while the pair's primary, DNS or a region's route disagree with the lease
  holder and have since the start of the last observation whose reads it took (the reads run
  in a child task, after its tick, ``RenewDue(observe=True)``, and the refresh that tick
  started; ``WorldObserved`` brings them back) — and, after
  a change of holder, of its last lease refresh — (or for three observation cadences, once
  every timer of that region due within them has fired and been handled, and the
  observation it started is back: the clock may jump past a timer inside another call, and
  real time would have run it), unless that region's
  status writes are being refused (see below);
* ``switchover-unfinished`` — after the calm phase a journal or a run is still there;
* ``world-not-converged`` — after the calm phase nobody holds the lease, or the primary, DNS
  or a region's route disagree with the holder;
* ``deletion-left-world-broken`` — after a region's CR was deleted (with the finalizer: once
  its instance finished or compensated what was in flight) the calm phase ends without one
  writer the pair, DNS and the routes agree on — unless a deleted region's instance let go
  while its region was cut off, once the witness had been unreadable for its grace (six
  renewals: ``docs/decisions.md`` #20 bounds that wait; it cannot tell whether the lease
  names it, and nobody is left to converge what it would have), or let go as the writer
  while another region was cut off — or had been when the observation it let go on began
  (a heal it could not have seen yet; seed 1119187) — once the world it could not read
  whole had held it for that wait's grace (the same decision bounds it: a region gone never
  holds a deletion for good; seed 541251), or could not take over the writer role the lease
  gave it, its witness calls failing, for that wait's grace while another region was cut
  off and its last look could not read the world whole (seed 1120833);
* ``deletion-dropped-journal`` — a region's CR went away while its journal was open or its
  instance's run was under way;
* ``deletion-hung`` — after the calm phase a region's CR is still being deleted (its
  instance never let go of the finalizer);
* ``audit-collision`` — two different audit events share one ``eventId`` (one is lost);
* ``dryrun-lied`` — a run confirmed on a DryRun without blockers failed its own precondition
  check with no call meeting a fault or a partition in between;
* ``actor-failed`` — the actor raised (its supervisor would restart it).

A status can only tell the truth once a write of it could land. A region is therefore
excused from ``healthy-but-world-disagrees`` while a status write of its instance is in flight
(made from a child task, one at a time: the change found meanwhile goes with the next, made
as soon as it ends; ``docs/decisions.md`` #33), and while its last status write failed (an injected
``status`` fault: refused, timed out, reply lost; an instance always reaches its own region's
API server, so a partition refuses none) and one retry backoff has not passed since: 0.5 s
after the first failure in a row, doubling with each further one, at most one observation
cadence (10 s). No longer — except while a timer of that region due within the backoff has not
been fired, or fired and not been handled, by the simulator yet (the clock may jump past it
inside another call). An instance that does not retry a refused write within its backoff is
caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog

from continuum.actors.continuum.messages import (
    RenewDue,
    SwitchoverDone,
    WorldObserved,
)
from continuum.actors.mailbox import ReplyError
from continuum.clock import FakeClock
from continuum.messages.crd import Continuum
from continuum.messages.requests import DryRunRequest, SwitchoverAccepted, SwitchoverRequest
from continuum.messages.switchover import DryRunReport, SwitchoverResult
from tests.continuum_actor.harness import make_cr
from tests.simulation.node import ActorFailed, SimNode
from tests.simulation.schedule import (
    Action,
    ArmKill,
    Delete,
    Fail,
    Heal,
    Kill,
    Partition,
    RequestInSpec,
    SetSpec,
    Switchover,
    Tick,
)
from tests.simulation.world import REGIONS, Fault, SimWorld

__all__ = ["CALM_SECONDS", "Outcome", "Violation", "quiet_logs", "run", "run_sync"]

CALM_SECONDS = 200.0
"""Simulated time after the schedule with no faults: long enough for every switchover to
end (each step and undo bounded, six renewals of deletion grace) once the faults stop."""

_MAX_CALM_TICKS = 2_000
"""A bound on the calm phase's ticks (timers at ``renewSeconds`` need about 80)."""

_MAX_DELIVERIES = 20_000

_CADENCE = 10.0
"""The instances' observation and renewal cadence (``renewSeconds`` of the simulated CR)."""


class Violation(msgspec.Struct, frozen=True):
    kind: str
    detail: str
    at: float


@dataclass
class Outcome:
    """What one schedule did."""

    events: int = 0
    kills: int = 0
    switchovers: int = 0
    deletions_mid_run: int = 0
    """Deletions that found the region's run under way or its journal open."""
    results: list[SwitchoverResult] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    let_go_cut_off: list[str] = field(default_factory=list)
    """The regions whose instance let go of a deleted CR while cut off, its grace for reading
    the witness run out, or as the writer while another region was cut off, its grace for
    the world it could not read run out (excused from ``deletion-left-world-broken``)."""

    left_broken: str = ""
    """After a deletion: what of the world the calm phase left disagreeing with the one
    primary ("" when it agrees), excused or not."""

    def kinds(self) -> set[str]:
        return {v.kind for v in self.violations}


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """The actor's logs off for the run (a schedule logs thousands of lines)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        yield
    finally:
        structlog.configure(**saved)


def _sim_cr() -> Continuum:
    return make_cr(switchover={"drainSeconds": 0})


class _Sim:
    def __init__(self, schedule: list[Action]) -> None:
        self.schedule = schedule
        self.clock = FakeClock(alarms=True)  # bounded calls without a watchdog task each
        self.world = SimWorld(self.clock, _sim_cr())
        self.nodes = {r: SimNode(self.world, r) for r in REGIONS}
        self.down_until: dict[str, float] = {}
        self.out = Outcome()
        self.acted: dict[str, int] = {}
        self.partition_healed_at = -1e9
        """When the last partition healed."""
        self.acting_since: dict[tuple[str, int], float] = {}
        """Per instance (region, incarnation) acting as writer: since when, without a break
        (a kill and a restart between two checks is a break too: seed 301852)."""
        self.ever_partitioned = False
        self.confirmed: dict[str, int] = {}
        self._seen: set[tuple[str, str]] = set()
        self.disagrees_since: float | None = None
        self.disagrees_from_event = 0
        self.holder = ""
        self.holder_from_event = 0
        """The lease holder at the last check, and the event count when it became that."""
        self.renewed_at: dict[str, int] = {}
        """Per region: the event count when its instance began the last lease refresh it
        finished (start, or a RenewDue whose witness conversation is over)."""
        self.refresh_began: dict[str, int] = {}
        """Per region: the event count when its instance began the refresh under way."""
        self.observed_at: dict[str, int] = {}
        """Per region: the event count when its instance began the observation whose result
        it took last (at start, or the tick whose reads ``WorldObserved`` brought back)."""
        self.reading_since: dict[str, int] = {}
        """Per region: the event count when the observation whose reads are out began."""
        self.fired: dict[str, list[tuple[float, msgspec.Struct]]] = {}
        """Per region: the timers the simulator fired last (all at one instant), each with
        when it was due and its message."""

    # -- invariants ----------------------------------------------------------------------

    def violate(self, kind: str, detail: str) -> None:
        key = (kind, detail)
        if key in self._seen:
            return
        self._seen.add(key)
        self.out.violations.append(Violation(kind, detail, self.clock.monotonic()))

    def disagreement(self, holder: str) -> str:
        """What in the world disagrees with ``holder`` as the writer ("" when nothing)."""
        w = self.world
        wrong = []
        if w.primaries() != [holder]:
            wrong.append(f"primaries={w.primaries()}")
        if not w.dns_regions() <= {holder}:
            wrong.append(f"dns={sorted(w.dns_regions())}")
        for region, serving in w.serving().items():
            if serving != {holder}:
                wrong.append(f"route in {region} serves {sorted(serving)}")
        return ", ".join(wrong)

    @staticmethod
    def refreshing(node: SimNode) -> bool:
        """Whether ``node``'s instance waits on the witness for a timer-driven refresh."""
        return node.actor is not None and node.actor.refresh.waiting

    def writes_refused(self, region: str) -> bool:
        """Whether ``region``'s status writes are being refused: its last one failed and one
        retry backoff has not passed, or its retry has not had its turn (module docstring)."""
        api = self.world.api[region]
        if api.refused == 0:
            return False
        deadline = api.refused_at + min(0.5 * 2.0 ** min(api.refused - 1, 32), _CADENCE)
        return self.clock.monotonic() <= deadline or self.behind(region, deadline)

    def behind(self, region: str, deadline: float) -> bool:
        """Whether ``region``'s instance has not yet had a turn that real time would have
        given it by ``deadline``: a timer of it due by then not fired yet (the clock jumped
        past it inside a call, while the simulator, running one call at a time, could not
        fire it), or fired and its message not handled yet, or handled and the observation
        it started not back yet (its refresh or its reads still out: seed 314846). Once the
        simulator gives it that turn, this is over."""
        node = self.nodes[region]
        timer = node.next_timer()
        if timer is not None and timer.due <= min(deadline, self.clock.monotonic()):
            return True
        fired = [message for due, message in self.fired.get(region, ()) if due <= deadline]
        if not fired:
            return False
        if any(m is message for m, _ in node.mailbox for message in fired):
            return True
        actor = node.actor
        return actor is not None and (
            actor.refresh.waiting or actor.observing.deferred or actor.observing.busy
        )

    def check(self) -> None:
        self.out.events += 1
        acting = [n for n in self.nodes.values() if n.actor is not None and n.actor.acting()]
        if len(acting) > 1:
            self.violate("two-actors", ", ".join(n.region for n in acting))
        for node in acting:
            assert node.actor is not None
            lease = node.actor.keeper.lease
            epoch = lease.generation if lease is not None else 0
            for region, seen in self.acted.items():
                if region != node.region and seen >= epoch:
                    self.violate(
                        "epoch-reused", f"{node.region} acts at {epoch}; {region} acted at {seen}"
                    )
            self.acted[node.region] = max(self.acted.get(node.region, 0), epoch)
        cadence = _CADENCE
        now = self.clock.monotonic()
        for node in acting:
            self.acting_since.setdefault((node.region, node.incarnation), now)
        for key in set(self.acting_since) - {(n.region, n.incarnation) for n in acting}:
            del self.acting_since[key]
        if not self.world.partitioned and len(self.world.primaries()) > 1:
            # After a partition, the cut-off region's Cluster may still be primary until the
            # writer's next observation fences it: judged one cadence after the heal and
            # after the writer began acting (a writer down at the heal, or that cannot renew,
            # fences nothing; while no instance acts, the calm phase's end judges that).
            if not self.ever_partitioned:
                since: float | None = self.partition_healed_at
            elif acting:
                # ... and after its last write to the pair that met a fault (a demotion
                # refused or timed out is tried again: seed 1208680).
                writer = acting[0]
                began = self.acting_since[(writer.region, writer.incarnation)]
                failed = self.world.pair_write_failed_at.get(writer.region, began)
                since = max(self.partition_healed_at, began, failed)
            else:
                since = None
            kind = "two-primaries-after-partition" if self.ever_partitioned else "two-primaries"
            # A writer whose observation fell due within the bound but has not had its turn
            # (the clock jumped past its timer inside another instance's call: seeds 513682,
            # 556744) is judged once it has had it, as a status is (``behind``).
            late = since is not None and now - since > cadence + 1
            if late and acting and since is not None:
                late = not self.behind(acting[0].region, since + cadence + 1)
            if late:
                self.violate(kind, f"primaries={self.world.primaries()}")
        for region, api in self.world.api.items():
            if api.dropped_journal:
                self.violate("deletion-dropped-journal", f"{region}: {api.dropped_journal}")
        holder = self.world.lease().holder
        wrong = self.disagreement(holder) if holder else "nobody holds the lease"
        now = self.clock.monotonic()
        if holder != self.holder:  # a disagreement with a new holder is a new one
            self.holder, self.holder_from_event = holder, self.out.events
            self.disagrees_since = None
        if not wrong:
            self.disagrees_since = None
        elif self.disagrees_since is None:
            self.disagrees_since = now
            self.disagrees_from_event = self.out.events
        # A status reports the instance's last observation against the holder it last read:
        # it may lag the world until the instance next observes and, after a change of
        # holder, next reads the lease (one cadence each, unless time jumped inside a slow
        # call), never beyond both, nor beyond three cadences of the instance's own turns
        # (a timer of it the clock jumped past inside a call has not had its turn yet). A
        # dead instance reports nothing.
        since = self.disagrees_since
        if wrong and since is not None:
            for region, api in self.world.api.items():
                node = self.nodes[region]
                if node.deleted or node.actor is None:
                    continue
                observed = self.observed_at.get(region, -1) >= self.disagrees_from_event
                learned = self.renewed_at.get(region, -1) >= self.holder_from_event
                if not (observed and learned) and (
                    now - since <= 3 * cadence or self.behind(region, since + 3 * cadence)
                ):
                    continue
                if self.writes_refused(region) or node.actor.writing_status:
                    continue
                if api.status.phase == "Healthy" and api.status.switchover is None:
                    self.violate(
                        "healthy-but-world-disagrees", f"{region} Healthy, holder={holder}: {wrong}"
                    )

    def check_end(self) -> None:
        for region, node in self.nodes.items():
            if node.deleted:
                continue
            if self.world.api[region].cr.deleting:
                self.violate("deletion-hung", f"{region} CR still being deleted")
            journal = self.world.api[region].status.switchover
            if journal is not None:
                self.violate("switchover-unfinished", f"{region} journal {journal.state}")
            if node.actor is not None and node.actor.running is not None:
                self.violate("switchover-unfinished", f"{region} still running")
            for failure in node.failures:
                self.violate("actor-failed", f"{region}: {failure}")
        for first, second in self.world.audit_collisions:
            self.violate(
                "audit-collision", f"{first.eventId}: {first.type.value} vs {second.type.value}"
            )
        if any(n.deleted for n in self.nodes.values()):
            # A deleted CR is no longer managed: nobody need hold the lease, but what the
            # deletion left behind must still be one writer everyone agrees on.
            primaries = self.world.primaries()
            wrong = self.disagreement(primaries[0]) if len(primaries) == 1 else "no one primary"
            self.out.left_broken = wrong
            if wrong and not any(api.let_go_cut_off for api in self.world.api.values()):
                self.violate("deletion-left-world-broken", wrong)
            return
        lease = self.world.lease()
        if not lease.holder or lease.is_free_at(self.clock.now()):
            self.violate("world-not-converged", "nobody holds the lease")
        else:
            wrong = self.disagreement(lease.holder)
            if wrong:
                self.violate("world-not-converged", f"holder={lease.holder}: {wrong}")

    # -- running -------------------------------------------------------------------------

    async def settle(self) -> None:
        """Let every task run until all wait (on the actor, the fake clock or a kill).
        ``anyio.wait_all_tasks_blocked`` polls with real sleeps; nothing here waits on real
        time, so an empty ready queue says the same, 100x faster."""
        loop = asyncio.get_running_loop()
        for _ in range(100_000):
            await asyncio.sleep(0)
            if not loop._ready:  # type: ignore[attr-defined]
                return

    async def deliver_all(self, until: Callable[[], bool] | None = None) -> None:
        """Deliver every mailbox until all are empty — or, with ``until``, only until it
        holds (checked before each delivery)."""
        for _ in range(_MAX_DELIVERIES):
            await self.settle()
            progressed = False
            for node in self.nodes.values():
                if until is not None and until():
                    return
                if node.mailbox:
                    message = node.mailbox[0][0]
                    began, reading = self.out.events, self._reading(node)
                    observations = self._observations(node)
                    refreshing = self.refreshing(node)
                    if isinstance(message, RenewDue) and not refreshing:
                        self.refresh_began[node.region] = self.out.events
                    with contextlib.suppress(ActorFailed):
                        await node.deliver_one()
                    if not self.refreshing(node) and (refreshing or isinstance(message, RenewDue)):
                        self.renewed_at[node.region] = self.refresh_began.get(node.region, -1)
                    if self._observations(node) > observations and not reading:
                        # An observation began (a tick, or the refresh it waited for ended):
                        # its reads start after this; one with nothing to read is over.
                        if self._reading(node):
                            self.reading_since[node.region] = began
                        else:
                            self.observed_at[node.region] = began
                    elif isinstance(message, WorldObserved) and node.region in self.reading_since:
                        self.observed_at[node.region] = self.reading_since.pop(node.region)
                    if isinstance(message, SwitchoverDone):
                        self.finished(message.result)
                    self.check()
                    progressed = True
            if not progressed:
                return
        self.violate("livelock", f"mailboxes not empty after {_MAX_DELIVERIES} deliveries")

    def finished(self, result: SwitchoverResult) -> None:
        self.out.results.append(result)
        fired = self.confirmed.pop(result.id, None)
        if (
            fired is not None
            and fired == self.world.disturbances
            and result.failed_step is not None
            and not result.steps
        ):
            self.violate("dryrun-lied", f"{result.id}: {result.error}")

    async def restart_due(self) -> None:
        for region, until in list(self.down_until.items()):
            if self.clock.monotonic() >= until:
                del self.down_until[region]
                if not self.nodes[region].deleted:  # a deleted CR has no instance to restart
                    await self._start(self.nodes[region])

    @staticmethod
    def _observations(node: SimNode) -> int:
        return node.actor.observing.seq if node.actor is not None else 0

    @staticmethod
    def _reading(node: SimNode) -> bool:
        return node.actor is not None and node.actor.observing.busy

    def healed(self) -> None:
        self.partition_healed_at = self.clock.monotonic()

    async def _start(self, node: SimNode) -> None:
        # on_start refreshes the lease and observes in place
        self.observed_at[node.region] = self.renewed_at[node.region] = self.out.events
        self.reading_since.pop(node.region, None)
        self.world.api[node.region].refused = 0  # a new process starts its backoff over
        with contextlib.suppress(ActorFailed):
            await node.start()
        self.check()

    def next_at(self) -> float | None:
        """When the next thing happens by itself: a timer falls due or a dead instance
        restarts (``None``: nothing will)."""
        times = [t.due for n in self.nodes.values() if (t := n.next_timer()) is not None]
        times += self.down_until.values()
        return min(times) if times else None

    async def tick(self) -> bool:
        """Deliver what is pending, then move the clock to the next timer or restart and
        let it happen: every timer due by then fires at once, in (due, arming) order, as
        the actor runtime's ``TimerQueue`` sends them. ``False`` when nothing was left to
        happen."""
        await self.restart_due()
        await self.deliver_all()
        at = self.next_at()
        if at is None:
            return False
        self.clock.advance(max(0.0, at - self.clock.monotonic()))
        await self.restart_due()
        self.fire_due()
        await self.deliver_all()
        return True

    def fire_due(self) -> None:
        now = self.clock.monotonic()
        due = sorted(
            ((t, n) for n in self.nodes.values() for t in n.due_timers(now)),
            key=lambda tn: (tn[0].due, tn[0].seq),
        )
        for region in {node.region for _, node in due}:
            self.fired[region] = []
        for timer, node in due:
            self.fired[node.region].append((timer.due, timer.message))
            node.fire(timer)

    def note_kills(self) -> None:
        for region, node in self.nodes.items():
            if node.actor is None and region not in self.down_until and not node.deleted:
                self.down_until[region] = self.clock.monotonic() + node.pending_down

    async def apply(self, action: Action) -> None:
        match action:
            case Tick():
                await self.tick()
            case Kill(region=region, down=down):
                node = self.nodes[region]
                node.pending_down = down
                node.kill()
                self.check()
            case ArmKill(region=region, writes=writes, down=down):
                node = self.nodes[region]
                node.pending_down = down
                node.crash_after_writes = writes
            case Fail(target=t, op=op, kind=kind, times=times, region=region, seconds=s):
                self.world.faults.append(Fault(t, op, region, kind, times, s))
            case Heal():
                self.world.faults.clear()
            case Partition(region=region, cut=cut):
                if cut:
                    self.world.partitioned.add(region)
                    self.ever_partitioned = True
                elif region in self.world.partitioned:
                    self.world.heal(region)
                    self.healed()
            case Switchover(to=to):
                await self.switchover(to)
            case SetSpec(failback_approved=approved, auto_failover=auto):
                await self.set_spec(approved=approved, auto=auto)
            case RequestInSpec(to=to):
                self.request_in_spec(to)
            case Delete(region=region):
                node, api = self.nodes[region], self.world.api[region]
                if not api.gone and (
                    api.status.switchover is not None
                    or (node.actor is not None and node.actor.running is not None)
                ):
                    self.out.deletions_mid_run += 1
                self.world.delete(node)
                self.check()
        self.note_kills()

    async def switchover(self, to: str) -> None:
        node = next(
            (n for n in self.nodes.values() if n.actor is not None and n.actor.acting()), None
        )
        if node is None:
            return
        fired = self.world.disturbances
        try:
            report = await self.answer(node, DryRunRequest(toRegion=to, reason="simulated"))
            if not isinstance(report, DryRunReport):
                return
            accepted = await self.answer(
                node,
                SwitchoverRequest(
                    toRegion=to,
                    fingerprint=report.planFingerprint,
                    reason="simulated",
                    initiatedBy="simulator",
                ),
            )
        except (ReplyError, ActorFailed):
            return
        if isinstance(accepted, SwitchoverAccepted):
            self.out.switchovers += 1
            if not report.blockers:
                self.confirmed[accepted.id] = fired
        await self.settle()  # the run starts at once: its own precondition check runs now
        self.check()

    async def answer(self, node: SimNode, message: msgspec.Struct) -> Any:
        """``node.ask(message)``; a deferred reply is waited for by delivering the mailboxes
        until it comes (what the actors do meanwhile is part of the run), and no further.
        ``None`` when the instance died first or the reply never came."""
        result = await node.ask(message)
        if not isinstance(result, asyncio.Future):
            return result
        await self.deliver_all(until=result.done)
        if not result.done():
            result.cancel()
            return None
        error = result.exception()
        if error is not None and not isinstance(error, ReplyError):
            return None  # killed or stopped meanwhile
        return result.result()

    async def set_spec(self, *, approved: bool, auto: bool) -> None:
        for region, api in self.world.api.items():
            spec = api.cr.spec
            spec = msgspec.structs.replace(
                spec,
                failback=msgspec.structs.replace(spec.failback, approved=approved),
                auto_failover=auto,
            )
            self.world.change_spec(self.nodes[region], spec)

    def request_in_spec(self, to: str) -> None:
        for region, api in self.world.api.items():
            spec = api.cr.spec
            switchover = msgspec.structs.replace(
                spec.switchover,
                requested=True,
                target_region=to,
                reason="simulated",
                requested_by="simulator",
            )
            spec = msgspec.structs.replace(spec, switchover=switchover)
            self.world.change_spec(self.nodes[region], spec)

    async def calm(self) -> None:
        self.world.faults.clear()
        if self.world.partitioned:
            for region in sorted(self.world.partitioned):
                self.world.heal(region)
            self.healed()
        for node in self.nodes.values():
            node.crash_after_writes = 0
        until = self.clock.monotonic() + CALM_SECONDS
        for _ in range(_MAX_CALM_TICKS):
            at = self.next_at()
            if at is None or at > until:
                break
            await self.tick()
        await self.deliver_all()
        self.check_end()

    async def main(self) -> Outcome:
        for node in self.nodes.values():
            node.pending_down = 0.0
            await self._start(node)
        for action in self.schedule:
            await self.apply(action)
        await self.calm()
        self.out.kills = sum(n.kills for n in self.nodes.values())
        self.out.let_go_cut_off = [r for r, api in self.world.api.items() if api.let_go_cut_off]
        for node in self.nodes.values():
            node.kill()
        tasks = [t for n in self.nodes.values() for t in n.tasks]
        for task in tasks:
            task.cancel()
        return self.out


async def run(schedule: list[Action]) -> Outcome:
    """Run ``schedule`` (see the module docstring); never raises for a violation."""
    return await _Sim(schedule).main()


def run_sync(schedule: list[Action]) -> Outcome:
    """:func:`run` in a fresh event loop (tasks a kill left behind die with it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run(schedule))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()
