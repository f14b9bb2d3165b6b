"""Convergence by the acting instance (issue 13, item 1) and the phase from observation
(item 3): break one part of the world from outside, with no switchover running; the acting
writer converges it back to the lease holder and audits it, and status says ``Degraded``
with a ``Converged`` condition naming what disagreed until it agrees again. The route is
converged in every region (each region's API server holds its own copy)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from continuum.actors.continuum.converging import WorldView
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.clock import FakeClock
from continuum.core import converge as rule
from continuum.errors import DnsWriteError, Unavailable
from continuum.messages.audit import AuditType
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from continuum.messages.status import COND_CONVERGED
from continuum.messages.switchover import ObjectRef
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio

CADENCE = 10.0


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


def converged_events(h: Harness) -> list[str]:
    return [
        e.reason
        for e in h.sink.events
        if e.type is AuditType.ERROR and e.reason.startswith("converged-")
    ]


def condition(h: Harness) -> tuple[str, str]:
    for cond in h.status.current.conditions:
        if cond.type == COND_CONVERGED:
            return cond.status, cond.reason
    return "", ""


async def make_b_the_writer(h: Harness) -> None:
    """The world after a finished A → B switchover, the lease with B."""
    token = await h.pair.demote(A, new_primary=B)
    await h.pair.promote(B, token=token)
    for routes in (h.routes, h.routes_b):
        routes.weights = {"shop-" + A: 0, "shop-" + B: 100}
    h.seed_dns(make_cr(), B)
    await h.witness().acquire(KEY, B, 30)
    h.pair.writes = h.routes.writes = h.routes_b.writes = h.dns.writes = 0


async def demote(h: Harness, holder: str) -> None:
    other = B if holder == A else A
    await h.pair.demote(holder, new_primary=other)


async def fence(h: Harness, holder: str) -> None:
    await h.pair.fence(holder)


async def dns_to_other(h: Harness, holder: str) -> None:
    h.seed_dns(make_cr(), B if holder == A else A)


async def zero_routes(h: Harness, holder: str) -> None:
    for routes in (h.routes, h.routes_b):
        routes.weights = {k: 0 for k in routes.weights}


async def route_to_other(h: Harness, holder: str) -> None:
    other = B if holder == A else A
    for routes in (h.routes, h.routes_b):
        routes.weights = {"shop-" + holder: 0, "shop-" + other: 100}


async def other_region_route_to_other(h: Harness, holder: str) -> None:
    other = B if holder == A else A
    h.route_in(other).weights = {"shop-" + holder: 0, "shop-" + other: 100}


BREAKAGES: dict[str, tuple[Callable[[Harness, str], Awaitable[None]], str, str]] = {
    "demote-the-primary": (demote, "WriterMismatch", "converged-promote-holder"),
    "fence-the-primary": (fence, "WriterFenced", "converged-unfence-holder"),
    "dns-at-the-standby": (dns_to_other, "DnsMismatch", "converged-restore-dns"),
    "zero-route-weights": (zero_routes, "RouteDrained", "converged-serve-route"),
    "route-at-the-standby": (route_to_other, "RouteDrained", "converged-serve-route"),
    "other-region-route-at-the-standby": (
        other_region_route_to_other,
        "RouteDrained",
        "converged-serve-route",
    ),
}


@pytest.mark.parametrize("holder", [A, B])
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
async def test_breakage_from_outside_converges_back_to_the_holder(
    h: Harness, breakage: str, holder: str
) -> None:
    if holder == B:
        await make_b_the_writer(h)
    brk, kind, audit = BREAKAGES[breakage]
    async with h.actor(region=holder) as (_, actor):
        await h.clock.advance_settled(CADENCE)
        assert actor.acting()
        assert condition(h) == ("True", "Agrees")
        assert converged_events(h) == []
        await brk(h, holder)
        await h.clock.advance_settled(CADENCE)  # observed once: reported, not yet acted on
        assert h.status.current.phase == "Degraded"
        assert condition(h) == ("False", kind)
        await h.clock.advance_settled(CADENCE)  # seen twice: converged
        await h.clock.advance_settled(CADENCE)  # and observed agreeing again
        assert audit in converged_events(h)
        assert condition(h) == ("True", "Agrees")
        assert h.status.current.phase in ("Healthy", "FailedOver")
    assert h.pair.primaries() == [holder]
    half = (await h.pair.read_pair()).half(holder)
    assert half is not None
    assert not half.fenced
    assert h.dns.primaries() == {holder}
    assert h.routes.serving() == {holder}
    assert h.routes_b.serving() == {holder}
    assert (await h.witness().read(KEY)).holder == holder


async def test_after_a_switchover_the_new_holder_converges_its_own_region_s_route(
    h: Harness,
) -> None:
    """A → B re-weights the route A's instance reaches through its own steps; B's copy still
    sends everything to A until B's instance, now acting, converges it — and only it."""
    cr = make_cr(switchover={"drainSeconds": 0})
    async with h.actor(cr) as (ref, _):
        await h.clock.advance_settled(1)
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await h.clock.advance_settled(5)
    assert (await h.witness().read(KEY)).holder == B
    assert h.routes.serving() == {B}
    assert h.routes_b.serving() == {A}
    writes_a = h.routes.writes
    async with h.actor(h.with_status(cr), region=B) as (_, actor):
        await h.clock.advance_settled(3 * CADENCE)
        assert actor.acting()
        assert condition(h) == ("True", "Agrees")
    assert h.routes_b.serving() == {B}
    assert h.routes.serving() == {B}
    assert h.routes.writes == writes_a
    assert converged_events(h) == ["converged-serve-route"]
    [event] = [e for e in h.sink.events if e.reason == "converged-serve-route"]
    assert f"route in {B} sends nothing to {B}" in event.message
    assert f"route in {A}" not in event.message


async def test_an_unreadable_route_is_skipped_and_the_readable_one_still_converged(
    h: Harness,
) -> None:
    """Region B's copy never answers (each read times out): it is reported ``Unobserved``
    (never "agrees"), never written, while region A's drained copy is still converged."""
    h.routes_b.faults.add("read_weights", hang=True, times=1_000)
    async with h.actor() as (_, actor):
        # Checked just after each observation's read of B has timed out (the actor leaves no
        # observation half done when it stops).
        await h.clock.advance_settled(READ_TIMEOUT + 1)
        assert actor.acting()
        assert condition(h) == ("False", "Unobserved")
        assert h.status.current.phase == "Degraded"
        h.routes.weights = {k: 0 for k in h.routes.weights}
        await h.clock.advance_settled(CADENCE)
        assert condition(h) == ("False", "RouteDrained")
        cond = h.status.current.condition(COND_CONVERGED)
        assert cond is not None
        assert f"route in {B} unreadable" in cond.message
        await h.clock.advance_settled(2 * CADENCE)
        assert condition(h) == ("False", "Unobserved")
    assert h.routes.serving() == {A}
    assert h.routes_b.writes == 0
    assert converged_events(h) == ["converged-serve-route"]


async def test_a_standby_instance_reports_but_never_converges(h: Harness) -> None:
    await h.witness().acquire(KEY, A, 300)  # A holds (its instance runs elsewhere)
    async with h.actor(region=B) as (_, actor):
        await h.clock.advance_settled(CADENCE)
        h.seed_dns(make_cr(), B)
        await h.clock.advance_settled(3 * CADENCE)
        assert not actor.acting()
        assert h.status.current.phase == "Degraded"
        assert condition(h) == ("False", "DnsMismatch")
    assert converged_events(h) == []
    assert h.dns.writes == 0


async def test_an_undo_that_fails_is_journaled_and_retried_until_the_world_is_restored(
    h: Harness,
) -> None:
    """Issue 13, item 2: flip-dns fails, so the run is undone; the undo of drain-http fails
    once. The journal stays ``compensating`` and the next renewal undoes the rest: the
    route serves A again and lastSwitchover says ``Compensated`` — never ``Succeeded``."""
    h.dns.faults.add("commit", DnsWriteError("pdns down"))
    h.routes.faults.add("restore", Unavailable("api down", region=A))
    async with h.actor() as (ref, _):
        await h.clock.advance_settled(1)
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await h.clock.advance_settled(15)
        journal = h.status.current.switchover
        assert journal is not None
        assert journal.state == "compensating"
        assert h.status.current.last_switchover is None
        await h.clock.advance_settled(3 * CADENCE)
        assert h.status.current.switchover is None
    last = h.status.current.last_switchover
    assert last is not None
    assert last.result == "Compensated"
    assert h.routes.serving() == {A}
    assert h.pair.primaries() == [A]
    assert (await h.witness().read(KEY)).holder == A


async def test_a_route_left_drained_gets_its_recorded_weights_back_not_weight_one(
    h: Harness,
) -> None:
    """A drain that left A's copy serving nothing (as ``drain-http`` does before its
    ``shift_to``; the undo never ran) recorded the weights it found: convergence gives those
    back (100), in one write. B's copy, zeroed from outside, has no record: the last resort,
    A's backend at 1 and the others at 0. Never a moment with every backend at 0 after."""
    route = ObjectRef(name="shop", namespace="shop")
    async with h.actor(region=A) as (_, actor):
        await h.clock.advance_settled(CADENCE)
        assert condition(h) == ("True", "Agrees")
        await h.routes.drain(route, A)
        assert h.routes.before_drain == {"shop-" + A: 100, "shop-" + B: 0}
        h.routes_b.weights = {k: 0 for k in h.routes_b.weights}
        await h.clock.advance_settled(CADENCE)
        assert condition(h) == ("False", "RouteDrained")
        await h.clock.advance_settled(CADENCE)
        await h.clock.advance_settled(CADENCE)
        assert condition(h) == ("True", "Agrees")
        assert actor.acting()
    assert h.routes.weights == {"shop-" + A: 100, "shop-" + B: 0}
    assert h.routes_b.weights == {"shop-" + A: 1, "shop-" + B: 0}
    assert converged_events(h).count("converged-serve-route") == 2


def test_an_observation_counts_only_for_the_tenure_it_was_made_in() -> None:
    """Seed 300597: B, the writer, observed a world agreeing with it, handed the role to A
    and got it back; its CR being deleted, it let go on that old observation while its
    route served A. What was observed in one tenure of a holder says nothing of the next."""
    first = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    again = datetime(2026, 1, 1, 12, 1, tzinfo=UTC)
    agreed = WorldView(mismatches=(), holder=B, tenure=first)
    assert agreed.disagreement(B, first) == ""
    assert agreed.disagreement(B, again).startswith("NotObserved")
    assert agreed.disagreement(A, first).startswith("NotObserved")
    assert agreed.disagreement("", again) == ""  # no holder known: nothing to say


def test_the_part_of_the_world_read_is_told_apart_from_what_could_not_be_read() -> None:
    """Seed 741232: a deleting writer that could not read the pair, DNS or the other
    region's route let go on that wait's grace with its own route, which it read, serving
    both regions. What it read and still disagrees is what it can converge (the deletion
    then waits for it on its grace to converge, ``core/deletion_wait.py``)."""
    tenure = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    view = WorldView(
        mismatches=(
            rule.Mismatch(kind="WriterMismatch", detail="pair unreadable: timeout"),
            rule.Mismatch(kind="Unobserved", detail=f"route in {A} unreadable", region=A),
            rule.Mismatch(kind="RouteSplit", detail=f"route in {B} also sends to {A}", region=B),
        ),
        holder=B,
        tenure=tenure,
        pair_unread=True,
    )
    assert view.unobserved(B, tenure)
    assert view.read_disagreement(B, tenure) == f"RouteSplit: route in {B} also sends to {A}"
    assert view.read_disagreement(A, tenure) == ""  # not observed against A: nothing said
    read_whole = WorldView(
        mismatches=(rule.Mismatch(kind="WriterMismatch", detail=f"primary: {A}; lease: {B}"),),
        holder=B,
        tenure=tenure,
    )
    assert read_whole.read_disagreement(B, tenure) == f"WriterMismatch: primary: {A}; lease: {B}"


async def test_a_failed_demotion_of_a_stale_primary_is_tried_again_before_the_next_tick(
    h: Harness,
) -> None:
    """Seed 548591: the writer's observation after a heal found the other half still
    primary and its demotion met a refused call; the next try waited for the next tick, two
    primaries a whole cadence more. A failed demotion now observes again after a short
    backoff (0.5 s, doubling, at most the cadence); one that lands starts it over."""
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        await h.pair.promote(B, token="")  # B's half primary beside A's (a failover path)
        h.pair.faults.add("demote", Unavailable("refused", region=B), region=B, times=2)
        await h.clock.advance_settled(CADENCE - 1)  # the tick: its demotion is refused
        assert h.pair.primaries() == [A, B]
        assert actor.observing.fence_failures == 1
        await h.clock.advance_settled(0.5)  # tried again at once: refused again
        assert h.pair.primaries() == [A, B]
        assert actor.observing.fence_failures == 2
        await h.clock.advance_settled(0.5)  # backoff doubled: not yet
        assert h.pair.primaries() == [A, B]
        await h.clock.advance_settled(0.5)  # 1 s after the second refusal: demoted
        assert h.pair.primaries() == [A]
        assert actor.observing.fence_failures == 0
        observations = actor.observing.seq
        await h.clock.advance_settled(CADENCE - 2)  # nothing more before the next tick
        assert actor.observing.seq == observations


@pytest.mark.parametrize("holder", [A, B])
async def test_the_only_primary_in_another_region_is_demoted_then_the_holder_promoted(
    h: Harness, holder: str
) -> None:
    """The holder's Cluster a replica while the other region's is the only primary (the
    pair switched over outside the lease): status said ``WriterMismatch`` and nothing
    converged it. The writer now demotes the other half (audited), promotes its own with
    the demotion's token once no half is primary, and only then moves DNS and the routes
    (decision #26)."""
    if holder == B:
        await make_b_the_writer(h)
    other = B if holder == A else A
    async with h.actor(region=holder) as (_, actor):
        await h.clock.advance_settled(CADENCE)
        assert actor.acting()
        token = await h.pair.demote(holder, new_primary=other)
        await h.pair.promote(other, token=token)
        await route_to_other(h, holder)
        await dns_to_other(h, holder)
        await h.clock.advance_settled(CADENCE)  # observed once: reported, not yet acted on
        assert condition(h) == ("False", "WriterMismatch")
        assert h.pair.primaries() == [other]
        await h.clock.advance_settled(CADENCE)  # seen twice: the other half demoted...
        assert h.pair.primaries() == []
        demotion = h.pair.halves[other].demotion_token
        assert demotion
        assert converged_events(h) == ["converged-demote-other"]
        assert h.routes.serving() == {other}  # ...and traffic left where writes land
        assert h.dns.primaries() == {other}
        await h.clock.advance_settled(CADENCE)  # no primary: the holder's promoted
        assert h.pair.primaries() == [holder]
        assert h.pair.halves[holder].promotion_token == demotion  # the token path
        await h.clock.advance_settled(2 * CADENCE)  # then DNS and the routes follow
        assert condition(h) == ("True", "Agrees")
    assert converged_events(h)[:2] == ["converged-demote-other", "converged-promote-holder"]
    assert set(converged_events(h)[2:]) == {"converged-restore-dns", "converged-serve-route"}
    [event] = [e for e in h.sink.events if e.reason == "converged-demote-other"]
    assert f"demoted {other}'s Cluster" in event.message
    assert h.dns.primaries() == {holder}
    assert h.routes.serving() == {holder}
    assert h.routes_b.serving() == {holder}


async def test_a_refused_demotion_of_the_other_region_s_primary_is_tried_again_early(
    h: Harness,
) -> None:
    """``demote-other`` refused once is tried again 0.5 s later, as a stale demotion is."""
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(CADENCE)
        assert actor.acting()
        token = await h.pair.demote(A, new_primary=B)
        await h.pair.promote(B, token=token)
        h.pair.faults.add("demote", Unavailable("refused", region=B), region=B, times=1)
        await h.clock.advance_settled(2 * CADENCE)  # seen twice: its demotion refused
        assert h.pair.primaries() == [B]
        assert actor.observing.fence_failures == 1
        await h.clock.advance_settled(0.5)  # seen again at once (a third time): demoted
        assert h.pair.primaries() == []
        assert actor.observing.fence_failures == 0
