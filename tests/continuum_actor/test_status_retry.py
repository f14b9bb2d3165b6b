"""A refused status write is retried promptly, on the fake clock (issue 13, item 3): the CR
stops saying ``Healthy`` as soon as the API takes a write, not at the next renewal tick; the
retries back off (0.5 s doubling up to ``renewSeconds``), never loop, are the only writes
while armed (but the journal's), and a CR at rest still costs no write."""

from __future__ import annotations

import pytest

from continuum.clock import FakeClock
from continuum.messages.commands import SpecInvalid
from continuum.messages.status import COND_SPEC_VALID, ContinuumStatus
from tests.continuum_actor.harness import KEY, A, B, Harness, RecordingStatusStore, make_cr

pytestmark = pytest.mark.anyio

CADENCE = 10.0
START = 1_000.0


class TimedStatusStore(RecordingStatusStore):
    """The harness's status store, noting the fake time of every write attempt."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.attempts: list[float] = []

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        self.attempts.append(self.clock.monotonic() - START)
        await super().patch_status(key, status, previous=previous)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock, status=TimedStatusStore(fake_clock))


def store(h: Harness) -> TimedStatusStore:
    assert isinstance(h.status, TimedStatusStore)
    return h.status


def spec_valid(h: Harness) -> str:
    cond = h.status.current.condition(COND_SPEC_VALID)
    return cond.status if cond is not None else ""


async def test_an_observation_refused_a_write_is_reported_half_a_second_later(
    h: Harness,
) -> None:
    """The standby observes DNS naming itself while A holds the lease; the write of
    ``Degraded`` is refused. The CR says ``Degraded`` 0.5 s later, not 10 s later."""
    await h.witness().acquire(KEY, A, 300)  # A holds (its instance runs elsewhere)
    async with h.actor(region=B):
        await h.clock.advance_settled(CADENCE)
        assert h.status.current.phase == "Healthy"
        h.seed_dns(make_cr(), B)
        h.status.fail = True
        await h.clock.advance_settled(CADENCE)  # observed: Degraded, the write refused
        assert h.status.current.phase == "Healthy"
        h.status.fail = False
        await h.clock.advance_settled(0.4)
        assert h.status.current.phase == "Healthy"
        await h.clock.advance_settled(0.1)
        assert h.status.current.phase == "Degraded"


async def test_retries_back_off_doubling_up_to_the_renew_interval(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await h.clock.advance_settled(1)
        h.status.fail = True
        await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="bad"))
        await h.clock.advance_settled(40)
        attempts = [t for t in store(h).attempts if t >= 1 and t % CADENCE]
        ticks = [t for t in store(h).attempts if t >= 1 and not t % CADENCE]
    # The first refusal at 1 s, then one retry after each backoff; the renewal and
    # observation ticks (at 10, 20, 30, 40 s) write nothing while a retry is armed: each
    # write holds the mailbox up to its bound, and a renewal must not wait behind them.
    assert attempts == [1.0, 1.5, 2.5, 4.5, 8.5, 16.5, 26.5, 36.5]
    assert ticks == []
    assert spec_valid(h) != "False"  # never landed


async def test_a_landed_write_stops_the_retries_and_starts_the_backoff_over(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await h.clock.advance_settled(1)
        h.status.fail = True
        await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="bad"))
        await h.clock.advance_settled(3)  # refused at 1, 1.5, 2.5; the next retry at 4.5
        h.status.fail = False
        await h.clock.advance_settled(1)
        assert spec_valid(h) == "False"
        landed = len(store(h).attempts)
        await h.clock.advance_settled(CADENCE + 5)  # no retry left armed
        assert [t for t in store(h).attempts[landed:] if t % CADENCE] == []
        h.status.fail = True
        await ref.tell(SpecInvalid(key=KEY, field="spec.y", message="worse"))
        await h.clock.advance_settled(0.5)
    assert store(h).attempts[-2:] == [20.0, 20.5]  # 0.5 s again, not where it left off


async def test_a_cr_at_rest_after_a_refused_write_costs_no_write(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await h.clock.advance_settled(2 * CADENCE + 1)  # past the first observations' writes
        h.status.fail = True
        await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="bad"))
        await h.clock.advance_settled(0.1)
        h.status.fail = False
        await h.clock.advance_settled(1)  # the retry lands
        assert spec_valid(h) == "False"
        before = len(store(h).attempts)
        await h.clock.advance_settled(120)  # twelve renewals and observations, nothing new
    assert len(store(h).attempts) == before
