"""Safety under contention, for every backend against its real server.

Hypothesis generates schedules for three contenders (regions) over one slot: acquire, renew,
handover, release, read, a stall past the TTL, and an all-contenders acquire race, with
injected faults — a request dropped before it reaches the witness, a response lost after the
write landed, a request or response delayed (fake time passes in flight).

Each contender follows the client rule the controller follows: it acts as holder from the
moment a grant's response arrives until ``send time + ttl`` of its last successful grant (its
own clock; the request may have been delayed), and stops acting when it starts a handover or
release or when it learns the lease is lost. The checker asserts:

* no two holders' acting intervals ever overlap;
* generations never go backwards: every observation is ≥ everything observed in earlier
  steps, and a successful write is strictly greater.

dns-quorum is not linearizable (no conditional write in PowerDNS): its schedules leave out the
concurrent race, which is outside its guarantee; the contract suite records that caveat.

Examples per backend: ``WITNESS_SAFETY_EXAMPLES`` (default 25); the count of schedules run is
printed and recorded as a test property.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from witness_harness import BackendEnv

from continuum.clock import FakeClock
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Witness

pytestmark = pytest.mark.anyio

TTL = 10.0
HOLDERS = ("fsn", "hel", "nbg")
EXAMPLES = int(os.environ.get("WITNESS_SAFETY_EXAMPLES", "25"))
_slots = itertools.count()

ACTIONS = ("acquire", "renew", "handover", "release", "read", "stall", "race")
FAULTS = (
    "none",
    "none",
    "none",
    "drop-request",
    "drop-response",
    "delay-request",
    "delay-response",
)


@dataclass(frozen=True)
class Step:
    who: int
    action: str
    fault: str
    advance: float
    target: int


steps = st.builds(
    Step,
    who=st.integers(0, len(HOLDERS) - 1),
    action=st.sampled_from(ACTIONS),
    fault=st.sampled_from(FAULTS),
    advance=st.sampled_from((0.0, 0.5, 3.0, 7.0, TTL - 0.01, TTL + 0.5)),
    target=st.integers(0, len(HOLDERS) - 1),
)


class Dropped(WitnessUnavailable):
    """An injected fault: the caller never got an answer."""


@dataclass
class Contender:
    name: str
    client: Witness
    lease: Lease | None = None
    acting_since: float | None = None
    valid_until: float = 0.0


@dataclass
class Checker:
    clock: FakeClock
    intervals: list[tuple[str, float, float]] = field(default_factory=list)
    floor: int = 0
    step_max: int = 0

    def observe(self, generation: int, *, write: bool) -> None:
        assert generation >= self.floor, f"generation went back: {generation} < {self.floor}"
        if write:
            assert generation > self.floor, f"write generation {generation} <= {self.floor}"
        self.step_max = max(self.step_max, generation)

    def end_step(self) -> None:
        self.floor = max(self.floor, self.step_max)

    def stop_acting(self, contender: Contender, at: float) -> None:
        if contender.acting_since is not None:
            end = min(at, contender.valid_until)
            if end > contender.acting_since:
                self.intervals.append((contender.name, contender.acting_since, end))
        contender.acting_since = None

    def granted(self, contender: Contender, lease: Lease, *, sent: float) -> None:
        now = self.clock.monotonic()
        if contender.acting_since is not None and now >= contender.valid_until:
            self.stop_acting(contender, now)
        contender.lease = lease
        contender.valid_until = sent + lease.ttl_seconds
        if contender.acting_since is None and now < contender.valid_until:
            contender.acting_since = now

    def assert_no_overlap(self) -> None:
        ordered = sorted(self.intervals, key=lambda item: item[1])
        for index, (holder, start, end) in enumerate(ordered):
            for other, other_start, other_end in ordered[index + 1 :]:
                if other_start >= end:
                    break
                assert other == holder or other_start >= end, (
                    f"{holder} acted [{start}, {end}) while {other} acted"
                    f" [{other_start}, {other_end})"
                )


async def _call(
    clock: FakeClock, fault: str, op: Callable[[], Awaitable[Lease | None]]
) -> tuple[Lease | None, float]:
    """Run ``op`` with ``fault``; returns its result and the fake time it was sent at."""
    sent = clock.monotonic()
    if fault == "drop-request":
        raise Dropped("request dropped")
    if fault == "delay-request":
        clock.advance(TTL * 0.6)
    result = await op()
    if fault == "delay-response":
        clock.advance(TTL * 0.6)
    if fault == "drop-response":
        raise Dropped("response lost")
    return result, sent


async def _run_step(step: Step, slot: str, crowd: list[Contender], check: Checker) -> None:
    clock = check.clock
    me = crowd[step.who]
    if step.advance:
        clock.advance(step.advance)
    try:
        if step.action == "acquire":
            lease, sent = await _call(
                clock, step.fault, lambda: me.client.acquire(slot, me.name, TTL)
            )
            assert lease is not None
            check.observe(lease.generation, write=True)
            check.granted(me, lease, sent=sent)
        elif step.action in ("renew", "stall") and me.lease is not None:
            if step.action == "stall":
                clock.advance(TTL + 1.0)
            held = me.lease
            lease, sent = await _call(clock, step.fault, lambda: me.client.renew(held))
            assert lease is not None
            check.observe(lease.generation, write=True)
            check.granted(me, lease, sent=sent)
        elif step.action == "handover" and me.lease is not None and step.target != step.who:
            held, heir = me.lease, crowd[step.target]
            check.stop_acting(me, clock.monotonic())
            lease, sent = await _call(
                clock, step.fault, lambda: me.client.handover(held, heir.name, TTL)
            )
            assert lease is not None
            assert lease.holder == heir.name
            check.observe(lease.generation, write=True)
            me.lease = None
            check.granted(heir, lease, sent=sent)
        elif step.action == "release" and me.lease is not None:
            held = me.lease
            check.stop_acting(me, clock.monotonic())
            me.lease = None
            await _call(clock, step.fault, lambda: me.client.release(held))
        elif step.action == "read":
            lease, _ = await _call(clock, step.fault, lambda: me.client.read(slot))
            assert lease is not None
            check.observe(lease.generation, write=False)
        elif step.action == "race":
            await _race(slot, crowd, check)
    except LeaseLost:
        check.stop_acting(me, clock.monotonic())
        me.lease = None
    except (LeaseHeldByAnother, WitnessUnavailable):
        pass
    check.end_step()


async def _race(slot: str, crowd: list[Contender], check: Checker) -> None:
    sent = check.clock.monotonic()
    results: dict[int, Lease] = {}

    async def contend(index: int) -> None:
        with contextlib.suppress(LeaseHeldByAnother, WitnessUnavailable):
            results[index] = await crowd[index].client.acquire(slot, crowd[index].name, TTL)

    async with anyio.create_task_group() as group:
        for index in range(len(crowd)):
            group.start_soon(contend, index)
    for index, lease in results.items():
        check.observe(lease.generation, write=True)
        check.granted(crowd[index], lease, sent=sent)


@dataclass
class Crowd:
    kind: str
    linearizable: bool
    contenders: list[Contender]
    schedules: int = 0


@pytest.fixture
async def crowd(backend: BackendEnv, request: pytest.FixtureRequest) -> AsyncIterator[Crowd]:
    """Three contenders on one backend, shared by every example of the test (each example
    uses a fresh slot). On teardown the number of schedules run is printed and recorded."""
    contenders = [Contender(name, await backend.client()) for name in HOLDERS]
    crowd = Crowd(backend.kind, backend.linearizable, contenders)
    yield crowd
    request.node.user_properties.append(("schedules", crowd.schedules))
    print(f"\n[{crowd.kind}] safety schedules run: {crowd.schedules}")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(schedule=st.lists(steps, min_size=4, max_size=14))
async def test_no_two_holders_ever_overlap_and_generations_never_go_back(
    crowd: Crowd, clock: FakeClock, schedule: list[Step]
) -> None:
    crowd.schedules += 1
    if not crowd.linearizable:
        # dns-quorum: no conditional write, so concurrent takers are out of its guarantee
        # (see its CAS caveat); sequential contention with faults is in.
        schedule = [step for step in schedule if step.action != "race"]
    slot = f"safety/s{next(_slots)}"
    for contender in crowd.contenders:
        contender.lease, contender.acting_since, contender.valid_until = None, None, 0.0
    check = Checker(clock)
    for step in schedule:
        await _run_step(step, slot, crowd.contenders, check)
    for contender in crowd.contenders:
        check.stop_acting(contender, clock.monotonic())
    check.assert_no_overlap()
