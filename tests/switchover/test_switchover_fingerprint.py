"""Plan fingerprint: canonical encoding, vectors, and what it covers (and what it does not)."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from continuum.messages.switchover import CnpgMode, Mechanism, ObjectRef, Plan
from continuum.switchover.fingerprint import canonical_json, fingerprint
from continuum.switchover.lua import synthesize
from continuum.switchover.plan import lua_params
from tests.switchover.fakes import KEY, A, B, dns_plan

MINIMAL = (
    b'{"cnpgMode":"distributed","continuum":"ns/x","dns":null,"drainSeconds":10,"from":"a",'
    b'"leaseTtlSeconds":30.0,"mechanism":"cnpg-pair","pair":null,'
    b'"reason":"operator-requested","records":null,"route":null,"to":"b","unplanned":false,'
    b'"v":2}'
)


def full_plan() -> Plan:
    return Plan(
        continuum_name=KEY,
        from_region=A,
        to_region=B,
        pair=ObjectRef(name="shop-pg", namespace="acme"),
        route=ObjectRef(name="shop", namespace="acme"),
        dns=dns_plan(),
        initiated_by="ops@acme.io",
    )


def records(plan: Plan) -> list:  # type: ignore[type-arg]
    assert plan.dns is not None
    return synthesize(lua_params(plan.dns, plan.to_region))


def test_canonical_encoding_is_sorted_compact_json_and_hashes_to_the_vector() -> None:
    plan = Plan(continuum_name="ns/x", from_region="a", to_region="b")
    assert canonical_json(plan, None) == MINIMAL
    assert fingerprint(plan, None) == hashlib.sha256(MINIMAL).hexdigest()[:16]
    assert fingerprint(plan, None) == "239713863e2123dd"


def test_full_plan_vectors() -> None:
    plan = full_plan()
    assert fingerprint(plan, records(plan)) == "ea1b576e2d3810ba"
    assert fingerprint(plan, None) == "6ab3f58ed72a93e9"


CHANGES = {
    "to": {"to_region": "hz-ber-rtz-prod"},
    "mechanism": {"mechanism": Mechanism.STATELESS},
    "cnpg-mode": {"cnpg_mode": CnpgMode.REPLICA_FLIP},
    "pair": {"pair": ObjectRef(name="other", namespace="acme")},
    "route": {"route": None},
    "drain": {"drain_seconds": 0},
    "ttl": {"lease_ttl_seconds": 60.0},
    "unplanned": {"unplanned": True},
    "reason": {"reason": "failback"},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=list(CHANGES))
def test_every_field_that_changes_what_execute_does_changes_the_fingerprint(
    change: dict[str, object],
) -> None:
    plan = full_plan()
    other = msgspec.structs.replace(plan, **change)
    assert fingerprint(other, records(plan)) != fingerprint(plan, records(plan))


def test_the_initiator_is_not_part_of_the_plan_reviewed() -> None:
    plan = full_plan()
    other = msgspec.structs.replace(plan, initiated_by="someone-else")
    assert fingerprint(other, records(plan)) == fingerprint(plan, records(plan))


def test_dns_targets_and_hostnames_change_the_fingerprint() -> None:
    plan = full_plan()
    assert plan.dns is not None
    moved = msgspec.structs.replace(
        plan, dns=msgspec.structs.replace(plan.dns, region_ips={A: ("5.1.2.3",), B: ("9.9.9.9",)})
    )
    renamed = msgspec.structs.replace(
        plan, dns=msgspec.structs.replace(plan.dns, hostnames=("shop.example.com",))
    )
    base = fingerprint(plan, records(plan))
    assert fingerprint(moved, records(moved)) != base
    assert fingerprint(renamed, records(renamed)) != base


def test_epoch_and_timeouts_do_not_change_the_fingerprint() -> None:
    plan = full_plan()
    renewed = msgspec.structs.replace(plan, epoch=plan.epoch + 7)
    assert fingerprint(renewed, records(plan)) == fingerprint(plan, records(plan))


def test_identical_plans_give_identical_16_hex_fingerprints() -> None:
    a, b = full_plan(), full_plan()
    fa = fingerprint(a, records(a))
    assert fa == fingerprint(b, records(b))
    assert len(fa) == 16
    assert all(c in "0123456789abcdef" for c in fa)
