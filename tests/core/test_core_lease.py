"""The lease rule as a pure function: each event, the state and effects it leads to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from continuum.core.lease import (
    CallWitness,
    CancelTimer,
    Emit,
    LeaseState,
    RefreshDue,
    SetTimer,
    WitnessAnswered,
    WitnessRefused,
    claimant,
    decide,
    fencing_epoch,
)
from continuum.messages.audit import AuditType
from continuum.messages.lease import Lease

A, B, KEY = "fsn", "hel", "ns/app"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lease(holder: str, gen: int, *, left: float = 30.0, at: float = 0.0) -> Lease:
    return Lease(
        key=KEY,
        holder=holder,
        generation=gen,
        expires_at=T0 + timedelta(seconds=at + left),
        ttl_seconds=30.0,
    )


def state(**kw: object) -> LeaseState:
    values: dict[str, object] = {
        "key": KEY,
        "region": A,
        "ttl": 30.0,
        "safety_margin": 5.0,
        "designated": A,
        "primary_region": A,
    }
    values.update(kw)
    return LeaseState(**values)  # type: ignore[arg-type]


def at(t: float) -> dict[str, object]:
    return {"now": 1000.0 + t, "wall": T0 + timedelta(seconds=t)}


def answered(op: str, got: Lease, t: float = 0.0) -> WitnessAnswered:
    return WitnessAnswered(op=op, lease=got, started=1000.0 + t, **at(t))  # type: ignore[arg-type]


def types(effects: list[object]) -> list[AuditType]:
    return [e.type for e in effects if isinstance(e, Emit)]


def test_the_fencing_epoch_is_the_held_lease_else_the_seen_one_else_zero() -> None:
    assert fencing_epoch(lease(A, 7), lease(B, 9)) == 7
    assert fencing_epoch(None, lease(B, 9)) == 9
    assert fencing_epoch(None, None) == 0


def test_a_holder_renews_and_keeps_acting() -> None:
    s = state(held=lease(A, 3), last_renewed=1000.0, was_acting=True)
    s, effects = decide(s, RefreshDue(**at(10)))  # type: ignore[arg-type]
    assert effects == [CallWitness(op="renew", lease=lease(A, 3))]
    s, effects = decide(s, answered("renew", lease(A, 4, at=10), t=10))
    assert effects == []
    assert s.held == lease(A, 4, at=10)
    assert s.acting(1000.0 + 10)
    assert (s.witness_error, s.overdue, s.refreshing) == ("", False, False)


def test_a_standby_reads_and_does_not_claim_a_live_peer_lease() -> None:
    s, effects = decide(state(region=B, designated=A), RefreshDue(**at(0)))  # type: ignore[arg-type]
    assert effects == [CallWitness(op="read")]
    s, effects = decide(s, answered("read", lease(A, 5)))
    assert effects == []
    assert s.seen == lease(A, 5)
    assert not s.holding


def test_a_free_lease_is_claimed_only_by_the_designated_region_and_never_during_a_run() -> None:
    free = Lease(key=KEY)
    _, effects = decide(state(), answered("read", free))
    assert effects == [CallWitness(op="acquire")]
    _, effects = decide(state(region=B), answered("read", free))
    assert effects == []
    _, effects = decide(state(run_under_way=True), answered("read", free))
    assert effects == []


def test_a_lease_read_as_ours_is_adopted_then_announced() -> None:
    mine = lease(A, 5)
    s, effects = decide(state(), answered("read", mine))
    assert effects == [CallWitness(op="adopt", lease=mine)]
    s, effects = decide(s, answered("adopt", lease(A, 6)))
    assert types(effects) == [AuditType.LEASE_ACQUIRED]
    assert s.held == lease(A, 6)


def test_a_lost_renewal_is_audited_then_reacquired_and_a_collision_is_audited() -> None:
    s = state(held=lease(A, 3), last_renewed=1000.0, was_acting=True)
    s, effects = decide(s, RefreshDue(**at(5)))  # type: ignore[arg-type]
    s, effects = decide(
        s,
        WitnessRefused(op="renew", refusal="lost", error="gone", **at(5)),  # type: ignore[arg-type]
    )
    assert types(effects) == [AuditType.LEASE_LOST]
    assert effects[-1] == CallWitness(op="reacquire")
    assert s.held is None
    s, effects = decide(
        s,
        WitnessRefused(  # type: ignore[arg-type]
            op="reacquire",
            refusal="held-by-another",
            error="held",
            holder=B,
            expires_at=T0 + timedelta(seconds=30),
            **at(5),
        ),
    )
    assert types(effects) == [AuditType.LEASE_COLLISION]
    assert s.seen is not None
    assert s.seen.holder == B
    assert not s.acting(1005.0)


def test_a_failed_renewal_while_acting_arms_the_lapse_and_a_good_one_disarms_it() -> None:
    s = state(held=lease(A, 3), last_renewed=1000.0, was_acting=True)
    s, _ = decide(s, RefreshDue(**at(10)))  # type: ignore[arg-type]
    s, effects = decide(
        s,
        WitnessRefused(op="renew", refusal="unavailable", error="down", **at(10)),  # type: ignore[arg-type]
    )
    assert SetTimer(name="lapse", delay=15.0) in effects
    assert s.witness_error == "down"
    assert s.lapse_armed
    s, _ = decide(s, RefreshDue(**at(12)))  # type: ignore[arg-type]
    s, effects = decide(s, answered("renew", lease(A, 4, at=12), t=12))
    assert CancelTimer(name="lapse") in effects
    assert not s.lapse_armed


def test_renewals_overdue_drop_the_writer_role_once_and_audit_it() -> None:
    s = state(held=lease(A, 3), last_renewed=1000.0, was_acting=True)
    s, _ = decide(s, RefreshDue(**at(26)))  # type: ignore[arg-type]
    s, effects = decide(
        s,
        WitnessRefused(op="renew", refusal="unavailable", error="down", **at(26)),  # type: ignore[arg-type]
    )
    assert types(effects) == [AuditType.LEASE_LOST]
    assert s.overdue
    assert not s.was_acting
    s, _ = decide(s, RefreshDue(**at(36)))  # type: ignore[arg-type]
    s, effects = decide(
        s,
        WitnessRefused(op="renew", refusal="unavailable", error="down", **at(36)),  # type: ignore[arg-type]
    )
    assert types(effects) == []


def test_a_lease_that_cannot_be_adopted_is_not_held() -> None:
    s = state(held=lease(A, 5))
    s, _effects = decide(
        s,
        WitnessRefused(op="adopt", refusal="lost", error="moved on", **at(0)),  # type: ignore[arg-type]
    )
    assert s.held is None
    assert s.witness_error == "moved on"
    assert not s.overdue


@pytest.mark.parametrize(
    "event",
    [
        RefreshDue(**at(0)),  # type: ignore[arg-type]
        WitnessRefused(op="read", refusal="unavailable", error="x", **at(0)),  # type: ignore[arg-type]
    ],
)
def test_the_state_is_frozen_and_decide_returns_a_new_one(event: object) -> None:
    s = state()
    new, _ = decide(s, event)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        s.held = lease(A, 1)  # type: ignore[misc]
    assert msgspec.structs.asdict(s) == msgspec.structs.asdict(state())
    assert new is not s


def test_a_slot_without_holder_goes_to_the_one_primary_observed_not_to_memory() -> None:
    """Seed 419868: a failover's undo released the slot; each instance remembered the other
    region as the writer, so neither claimed it. The one primary observed decides."""
    released = Lease(key=KEY, generation=7)
    remembers_a = state(region=B, designated=A, pair_configured=True, observed_primary=B)
    _, effects = decide(remembers_a, answered("read", released))
    assert effects == [CallWitness(op="acquire")]
    remembers_b = state(region=B, designated=B, pair_configured=True, observed_primary=A)
    _, effects = decide(remembers_b, answered("read", released))
    assert effects == []


def test_a_released_slot_waits_for_an_observation_of_the_pair() -> None:
    released, fresh = Lease(key=KEY, generation=7), Lease(key=KEY)
    unobserved = state(pair_configured=True)
    assert claimant(unobserved, released) == ""
    assert claimant(unobserved, fresh) == A  # a slot never held: primaryRegion, at once
    assert claimant(state(), released) == A  # no pair to observe: memory
    # observed, but no one primary (none or two): memory
    assert claimant(state(pair_configured=True, observed_primary=""), released) == A
    # a slot with a holder, live or lapsed, is the holder's whatever was observed
    assert claimant(state(observed_primary=B), lease(A, 3, left=-5)) == A
