"""Setting a condition to what it already says is a no-op; a change keeps the rules of
``set_condition`` (``lastTransitionTime`` moves with ``status`` only)."""

from __future__ import annotations

import pytest

from continuum.clock import FakeClock
from continuum.messages.status import COND_LEASE_HELD
from tests.continuum_actor.harness import Harness

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def test_a_condition_set_to_what_it_says_leaves_status_untouched(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(15)
        held = actor.status.condition(COND_LEASE_HELD)
        assert held is not None
        assert held.status == "True"
        before = actor.status
        actor.condition(COND_LEASE_HELD, held.status, held.reason, held.message)
        assert actor.status is before
        await h.clock.advance_settled(30)
        actor.condition(COND_LEASE_HELD, held.status, held.reason, "another message")
        changed = actor.status.condition(COND_LEASE_HELD)
        assert changed is not None
        assert changed.message == "another message"
        assert changed.last_transition_time == held.last_transition_time  # same status
        actor.condition(COND_LEASE_HELD, "False", "Free", "nobody holds the lease")
        flipped = actor.status.condition(COND_LEASE_HELD)
        assert flipped is not None
        assert flipped.last_transition_time is not None
        assert held.last_transition_time is not None
        assert flipped.last_transition_time > held.last_transition_time
