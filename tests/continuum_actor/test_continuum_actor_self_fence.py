"""Self-fencing (issue 13, item 4): an instance that is not the writer never leaves its own
region's Cluster taking writes — it fences it the moment its renewals lapse, demotes it
towards the lease holder once the witness names one, and lifts the fence when it is the
writer again. On the fake clock."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.core import self_fence as rule
from continuum.messages.switchover import PairHalf
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def test_the_own_cluster_is_fenced_exactly_when_the_writer_role_lapses(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        assert actor.acting()
        h.store.available = False  # the witness is gone for this region
        await h.clock.advance_settled(24.9)
        assert actor.acting()
        assert not h.pair.halves[A].fenced  # never before the role lapses
        await h.clock.advance_settled(0.2)  # 25 s = ttl - safety margin since the last renew
        assert not actor.acting()
        assert h.pair.halves[A].fenced
        assert h.pair.halves[A].view("acme").acts_as_primary  # fenced, not demoted: no holder
        # The witness returns, the lease still names A: the writer's Cluster takes writes.
        h.store.available = True
        await h.clock.advance_settled(10)
        assert actor.acting()
        assert not h.pair.halves[A].fenced
    assert h.pair.primaries() == [A]


async def test_a_cut_off_writer_rejoins_as_a_replica_of_the_region_that_took_over(
    h: Harness,
) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        h.store.available = False
        await h.clock.advance_settled(31)  # lapsed and fenced; the lease expired
        assert h.pair.halves[A].fenced
        # B failed over meanwhile: holds the lease, its Cluster promoted by the failover path.
        h.store.available = True
        await h.witness().acquire(KEY, B, 30)
        await h.pair.promote(B, token="")
        assert sorted(h.pair.primaries()) == [A, B]
        await h.clock.advance_settled(10)
        assert not actor.acting()
    assert h.pair.primaries() == [B]
    assert not h.pair.halves[A].fenced  # a replica again, following B
    assert h.pair.halves[A].replica_primary == h.pair.halves[B].name


async def test_an_instance_starting_without_the_lease_demotes_its_stale_primary_first(
    h: Harness,
) -> None:
    await h.witness().acquire(KEY, B, 30)
    await h.pair.promote(B, token="")  # B took over while A was down; A is still primary
    async with h.actor(make_cr(), region=A) as (_, actor):
        await anyio.wait_all_tasks_blocked()  # on_start only: no time has passed
        assert not actor.acting()
        # on_start has run: the demotion came before the first timer tick
        assert h.pair.primaries() == [B]


async def test_an_instance_starting_with_the_witness_unreachable_fences_its_primary(
    h: Harness,
) -> None:
    await h.witness().acquire(KEY, A, 30)
    h.store.available = False
    async with h.actor(make_cr(), region=A) as (_, actor):
        await anyio.wait_all_tasks_blocked()  # on_start only: no time has passed
        assert not actor.acting()
        assert h.pair.halves[A].fenced
        h.store.available = True
        await h.clock.advance_settled(10)
        assert actor.acting()
        assert not h.pair.halves[A].fenced


async def test_a_planned_handover_neither_fences_nor_demotes_anything_extra(h: Harness) -> None:
    """The standby's instance sees its Cluster primary only after the lease names it."""
    token = await h.pair.demote(A, new_primary=B)
    await h.witness().acquire(KEY, A, 30)
    async with h.actor(make_cr(), region=B) as (_, actor):
        await anyio.wait_all_tasks_blocked()
        lease = await h.witness().read(KEY)
        await h.witness().handover(lease, B, 30)
        await h.pair.promote(B, token=token)
        await h.clock.advance_settled(10)
        assert actor.acting()
    assert h.pair.primaries() == [B]
    assert not h.pair.halves[B].fenced


def _inputs(**over: object) -> rule.Inputs:
    own = PairHalf(
        region=A, name="pg-a", namespace="acme", replica_primary="pg-a", replica_self="pg-a"
    )
    values: dict[str, object] = {
        "region": A,
        "acting": False,
        "run_under_way": False,
        "journal_open": False,
        "own": own,
        "other_holder": "",
        "fenced_by_us": False,
    }
    values.update(over)
    return rule.Inputs(**values)  # type: ignore[arg-type]


def test_the_rule_leaves_the_pair_to_a_switchover_run_or_an_open_journal() -> None:
    assert rule.decide(_inputs(run_under_way=True, other_holder=B)).kind == "nothing"
    assert rule.decide(_inputs(journal_open=True)).kind == "nothing"
    assert rule.decide(_inputs(own=None)).kind == "nothing"


def test_the_rule_demotes_towards_another_holder_and_fences_when_none_is_known() -> None:
    assert rule.decide(_inputs(other_holder=B)) == rule.Action(
        kind="demote", towards=B, why=f"primary while {B} holds the lease"
    )
    assert rule.decide(_inputs()).kind == "fence"
