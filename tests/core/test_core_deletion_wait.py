"""What a deletion waits for (``continuum/core/deletion_wait.py``): the instance's own state
in order, the writer's wait to converge, and what a standby asks the holder's region."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.deletion_grace import CONVERGE, UNOBSERVED
from continuum.core.deletion_wait import (
    ADOPT,
    COPY,
    OWN_CLUSTER,
    WITNESS,
    DeletionFacts,
    Local,
    Wait,
    holder_copy,
    lease_read,
    local,
)
from continuum.messages.crd import CopyState
from continuum.messages.lease import Lease

A, B = "region-a", "region-b"
OWN = Wait(
    reason=f"region {B}'s Cluster has not been seen settled (a replica, or the writer's) "
    "since this instance last looked",
    grace=OWN_CLUSTER,
)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (DeletionFacts(region=B, acting=True), Local()),
        (DeletionFacts(region=B, acting=False), Local(ask_holder=True)),
        (
            DeletionFacts(region=B, acting=True, running_id="r1", journal_id="r1"),
            Local(waits=(Wait(reason="switchover r1 is running"),)),
        ),
        (
            DeletionFacts(region=B, acting=False, journal_id="r1", repairing=True),
            Local(waits=(Wait(reason="the journal of switchover r1 is open"),)),
        ),
        (
            DeletionFacts(region=B, acting=True, old_primary_unconfirmed=A),
            Local(
                waits=(
                    Wait(
                        reason=f"region {A}'s Cluster was not cordoned by the failover and "
                        "has not been seen demoted since"
                    ),
                )
            ),
        ),
        # Without a pair there is no Cluster to wait for.
        (
            DeletionFacts(
                region=B,
                acting=True,
                cnpg_pair=False,
                old_primary_unconfirmed=A,
                self_fence_pending=True,
            ),
            Local(),
        ),
        (DeletionFacts(region=B, acting=True, self_fence_pending=True), Local(waits=(OWN,))),
        (
            DeletionFacts(region=B, acting=False, self_fence_pending=True),
            Local(waits=(OWN,), ask_holder=True),
        ),
        (
            DeletionFacts(region=B, acting=False, self_fence_pending=True, repairing=True),
            Local(waits=(OWN, Wait(reason="a convergence write is under way"))),
        ),
        (
            DeletionFacts(region=B, acting=True, disagreement="DNS serves region-a"),
            Local(
                waits=(
                    Wait(
                        reason="the world disagrees with the lease (DNS serves region-a)",
                        grace=CONVERGE,
                    ),
                )
            ),
        ),
        # A world not read whole (seed 541251): what cannot be read has a grace of its own.
        (
            DeletionFacts(region=B, acting=True, disagreement="route unreadable", unobserved=True),
            Local(
                waits=(
                    Wait(
                        reason="the world disagrees with the lease (route unreadable)",
                        grace=UNOBSERVED,
                    ),
                )
            ),
        ),
        # What it could read and still disagrees it can converge: that wait follows, on the
        # grace to converge (seed 741232: its own route left split).
        (
            DeletionFacts(
                region=B,
                acting=True,
                disagreement="route in b unreadable; route in a also sends to b",
                unobserved=True,
                read_disagreement="route in a also sends to b",
            ),
            Local(
                waits=(
                    Wait(
                        reason="the world disagrees with the lease (route in b unreadable; "
                        "route in a also sends to b)",
                        grace=UNOBSERVED,
                    ),
                    Wait(
                        reason="the world it could read disagrees with the lease "
                        "(route in a also sends to b)",
                        grace=CONVERGE,
                    ),
                )
            ),
        ),
        (DeletionFacts(region=B, acting=True, unobserved=True), Local()),
    ],
)
def test_the_instance_s_own_state_asks_for_these_waits_in_order(
    facts: DeletionFacts, expected: Local
) -> None:
    assert local(facts) == expected


@pytest.mark.parametrize(
    ("copy", "error", "expected"),
    [
        (
            None,
            "timeout",
            (Wait(reason=f"region {A}'s copy cannot be read (timeout)", grace=COPY),),
        ),
        (
            CopyState(exists=True, journal_to=B),
            "",
            (Wait(reason=f"region {A} is running a switchover to this region"),),
        ),
        (CopyState(exists=True, journal_to="region-c"), "", ()),
        (CopyState(exists=True), "", ()),
        (CopyState(exists=False, journal_to=B), "", ()),  # a copy gone runs nothing
    ],
)
def test_the_holder_s_copy(copy: CopyState | None, error: str, expected: tuple[Wait, ...]) -> None:
    assert holder_copy(region=B, holder=A, copy=copy, error=error) == expected


@pytest.mark.parametrize(
    ("lease", "error", "expected"),
    [
        (None, "refused", (Wait(reason="the witness cannot be read (refused)", grace=WITNESS),)),
        (
            Lease(key="k", holder=B, generation=4),
            "",
            (
                Wait(
                    reason="the lease names this region: it takes the writer role over first",
                    grace=ADOPT,
                ),
            ),
        ),
        (Lease(key="k", holder=A, generation=4), "", ()),
        (Lease(key="k"), "", ()),
    ],
)
def test_the_lease(lease: Lease | None, error: str, expected: tuple[Wait, ...]) -> None:
    assert lease_read(region=B, lease=lease, error=error) == expected


@given(
    acting=st.booleans(),
    running=st.booleans(),
    journal=st.booleans(),
    old_primary=st.booleans(),
    pending=st.booleans(),
    repairing=st.booleans(),
    disagreement=st.booleans(),
)
def test_a_wait_without_grace_is_always_the_last_weighed(
    acting: bool,
    running: bool,
    journal: bool,
    old_primary: bool,
    pending: bool,
    repairing: bool,
    disagreement: bool,
) -> None:
    verdict = local(
        DeletionFacts(
            region=B,
            acting=acting,
            running_id="r" if running else "",
            journal_id="j" if journal else "",
            old_primary_unconfirmed=A if old_primary else "",
            self_fence_pending=pending,
            repairing=repairing,
            disagreement="x" if disagreement else "",
        )
    )
    unbounded = [i for i, w in enumerate(verdict.waits) if w.grace is None]
    assert unbounded in ([], [len(verdict.waits) - 1])
    # Only a standby with nothing holding it unconditionally asks the holder's region.
    assert verdict.ask_holder == (not acting and not unbounded)
    if running or journal:
        assert len(verdict.waits) == 1
