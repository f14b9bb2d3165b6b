"""What a new spec changes (``continuum/core/spec_change.py``): the witness rebuilt only for a
new witness identity and no run, the timers only for a new cadence, drift audited against the
remembered fingerprint, the CR announced once per uid."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.spec_change import (
    AnnounceCreated,
    ConfigChanged,
    SpecChange,
    created,
    drift,
    spec_changed,
    witness_signature,
)
from continuum.messages.crd import Continuum
from tests.continuum_actor.harness import A, B, make_cr

BASE = make_cr()


def _lease(kind: str = "in-memory", **config: Any) -> Continuum:
    timing = {"ttlSeconds": 30, "renewSeconds": 10}
    timing.update(config)
    return make_cr(leaseClient={"kind": kind, "config": timing})


@pytest.mark.parametrize(
    ("new", "same"),
    [
        (_lease(), True),
        (_lease(ttlSeconds=60), True),  # timing is not the witness's identity
        (_lease(renewSeconds=5), True),
        (_lease("nats-kv"), False),
        (_lease(bucket="other"), False),
    ],
)
def test_the_witness_signature_ignores_only_the_timing(new: Continuum, same: bool) -> None:
    assert (witness_signature(new) == witness_signature(BASE)) is same


@pytest.mark.parametrize(
    ("new", "run_under_way", "expected"),
    [
        (BASE, False, SpecChange()),
        (make_cr(switchover={"drainSeconds": 30}), False, SpecChange()),
        (_lease("nats-kv"), False, SpecChange(rebuild_witness=True)),
        (_lease("nats-kv"), True, SpecChange()),  # a run keeps the client it started with
        (_lease(renewSeconds=5), False, SpecChange(restart_timers=True)),
        (_lease(renewSeconds=5), True, SpecChange(restart_timers=True)),
        (_lease(ttlSeconds=60), False, SpecChange()),
        (
            _lease("nats-kv", renewSeconds=5),
            False,
            SpecChange(rebuild_witness=True, restart_timers=True),
        ),
    ],
)
def test_a_spec_change_rebuilds_and_restarts_only_what_it_must(
    new: Continuum, run_under_way: bool, expected: SpecChange
) -> None:
    change = spec_changed(
        old=BASE, new=new, witness_sig=witness_signature(BASE), run_under_way=run_under_way
    )
    assert change == expected


def test_a_witness_left_unbuilt_by_a_run_is_rebuilt_by_the_next_spec() -> None:
    new = _lease("nats-kv")
    sig = witness_signature(BASE)
    assert not spec_changed(old=BASE, new=new, witness_sig=sig, run_under_way=True).rebuild_witness
    assert spec_changed(old=new, new=new, witness_sig=sig, run_under_way=False).rebuild_witness


@pytest.mark.parametrize(
    ("previous", "current", "audited"),
    [(None, "f1", False), ("f1", "f1", False), ("f1", "f2", True)],
)
def test_drift_is_audited_only_against_a_remembered_different_fingerprint(
    previous: str | None, current: str, audited: bool
) -> None:
    changed = drift(previous=previous, current=current, spec=BASE.spec)
    assert (changed is not None) is audited
    if changed is not None:
        assert changed == ConfigChanged(
            previous="f1",
            current="f2",
            to_primary=A,
            message="switchover-relevant spec changed: prev=f1 cur=f2 "
            f"(primaryRegion={A}, hotStandby=[{B}])",
        )
        assert changed.identity == ("config", "f1", "f2")


def test_the_cr_is_announced_once_per_uid() -> None:
    first = created(announced=None, uid="uid-1", spec=BASE.spec)
    assert first == AnnounceCreated(
        uid="uid-1",
        to_primary=A,
        message=f"per-CR actor started; primaryRegion={A} hotStandby=[{B}]",
    )
    assert first.identity == ("created", "uid-1")
    assert created(announced="uid-1", uid="uid-1", spec=BASE.spec) is None
    # A CR deleted and created again under the same name has a new uid: announced again.
    assert created(announced="uid-1", uid="uid-2", spec=BASE.spec) is not None


@given(
    ttl=st.integers(min_value=21, max_value=600),
    renew=st.integers(min_value=1, max_value=10),
)
def test_timing_never_changes_the_witness_identity(ttl: int, renew: int) -> None:
    config = msgspec.structs.replace(
        BASE.spec.lease_client.config, ttl_seconds=ttl, renew_seconds=renew
    )
    client = msgspec.structs.replace(BASE.spec.lease_client, config=config)
    spec = msgspec.structs.replace(BASE.spec, lease_client=client)
    assert witness_signature(msgspec.structs.replace(BASE, spec=spec)) == witness_signature(BASE)
