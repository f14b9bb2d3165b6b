"""Helpers of the CR shapes, the status merge patch and condition transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from continuum.errors import InvalidSpec
from continuum.messages.crd import (
    decode_continuum,
    decode_spec,
    duration_seconds,
    lease_key,
)
from continuum.messages.status import (
    SWITCHOVER_STEPS,
    Condition,
    ContinuumStatus,
    ReplicationLag,
    SwitchoverJournal,
    encode_status_patch,
    max_replication_lag,
    set_condition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _cr(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "applicationRef": "shop",
        "primaryRegion": "region-a",
        "hotStandbyRegions": ["region-b", "region-c"],
        "leaseClient": {"kind": "k8s-lease"},
        "cnpgPair": {"name": "shop-pg"},
    }
    base.update(spec)
    return {
        "apiVersion": "dr.openova.io/v1",
        "kind": "Continuum",
        "metadata": {"name": "shop-dr", "namespace": "acme", "uid": "u-1", "generation": 4},
        "spec": base,
    }


def test_failover_target_is_first_standby_other_than_the_acting_primary() -> None:
    spec = decode_continuum(_cr()).spec
    assert spec.failover_target() == "region-b"
    assert spec.failover_target("region-b") == "region-a"


def test_rto_and_rpo_parse_into_seconds() -> None:
    spec = decode_continuum(_cr(rto="2m", rpo="5s")).spec
    assert (spec.rto_seconds, spec.rpo_seconds) == (120, 5)
    assert decode_continuum(_cr()).spec.rto_seconds is None
    assert duration_seconds("1h") == 3600
    with pytest.raises(ValueError, match="not <digits>"):
        duration_seconds("s")


def test_lease_key_is_namespace_slash_name() -> None:
    cr = decode_continuum(_cr())
    assert cr.key == lease_key("acme", "shop-dr") == "acme/shop-dr"


def test_unknown_fields_are_tolerated_for_forward_compatibility() -> None:
    obj = _cr(futureField={"x": 1})
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    assert decode_continuum(obj).metadata.generation == 4


def test_missing_spec_names_spec() -> None:
    obj = _cr()
    del obj["spec"]
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(obj)
    assert caught.value.field == "spec"


def test_raft_transition_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(InvalidSpec, match="raft-transition is not supported"):
        decode_continuum(_cr(switchover={"mechanism": "raft-transition"}))


def test_invalid_json_bytes_raise_invalid_spec() -> None:
    with pytest.raises(InvalidSpec, match="not valid JSON"):
        decode_continuum(b"{not json")


def test_decode_spec_prefixes_paths_with_spec() -> None:
    body = _cr()["spec"]
    body["leaseClient"] = {"kind": "k8s-lease", "config": {"ttlSeconds": 1000}}
    with pytest.raises(InvalidSpec) as caught:
        decode_spec(body)
    assert caught.value.field == "spec.leaseClient.config.ttlSeconds"


def test_duplicate_standby_names_the_duplicate_entry() -> None:
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(_cr(hotStandbyRegions=["region-b", "region-b"]))
    assert caught.value.field == "spec.hotStandbyRegions[1]"


def test_duplicate_region_entry_names_its_name() -> None:
    regions = [{"name": "region-a", "lbIPs": ["192.0.2.1"]}] * 2
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(_cr(regions=regions))
    assert caught.value.field == "spec.regions[1].name"


def test_dns_quorum_requires_resolvers() -> None:
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(_cr(leaseClient={"kind": "dns-quorum"}))
    assert caught.value.field == "spec.leaseClient.config.resolvers"


def test_probe_keys_must_be_known_regions() -> None:
    probe = {"dsnSecretRefs": {"region-z": {"name": "s", "key": "dsn"}}}
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(_cr(replicationProbe=probe))
    assert caught.value.field == "spec.replicationProbe.dsnSecretRefs"


def test_witness_config_carries_only_the_keys_set() -> None:
    cfg = {"kind": "nats-kv", "config": {"bucket": "leases", "url": "nats://127.0.0.1:4222"}}
    spec = decode_continuum(_cr(leaseClient=cfg)).spec
    assert spec.lease_client.config.to_witness_config() == {
        "bucket": "leases",
        "url": "nats://127.0.0.1:4222",
    }


def _cond(status: str, reason: str = "Reconciled", message: str = "") -> Condition:
    return Condition(type="Ready", status=status, reason=reason, message=message)  # type: ignore[arg-type]


def test_set_condition_keeps_transition_time_while_status_is_unchanged() -> None:
    first = set_condition([], _cond("True"), T0)
    later = set_condition(first, _cond("True", message="still fine"), T0 + timedelta(minutes=5))
    assert later[0].last_transition_time == T0
    assert later[0].message == "still fine"


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    first = set_condition([], _cond("True"), T0)
    flipped = set_condition(first, _cond("False", "LeaseLost"), T0 + timedelta(seconds=7.5))
    assert flipped[0].last_transition_time == T0 + timedelta(seconds=7)
    assert flipped[0].status == "False"


def test_set_condition_appends_new_types_and_preserves_others() -> None:
    conds = set_condition([], _cond("True"), T0)
    lease = Condition(type="LeaseHeld", status="True", reason="Held")
    both = set_condition(conds, lease, T0)
    assert [c.type for c in both] == ["Ready", "LeaseHeld"]
    assert conds == set_condition([], _cond("True"), T0)


def test_status_patch_without_previous_carries_the_whole_status() -> None:
    status = ContinuumStatus(phase="Healthy", lease_holder="region-a", observed_generation=4)
    body = msgspec.json.decode(encode_status_patch(status, resource_version="17"))
    assert body == {
        "status": {"observedGeneration": 4, "phase": "Healthy", "leaseHolder": "region-a"},
        "metadata": {"resourceVersion": "17"},
    }


def test_status_patch_clears_fields_that_disappeared() -> None:
    old = ContinuumStatus(
        phase="Healthy",
        lease_holder="region-a",
        replication_lag={
            "region-b": ReplicationLag(seconds=1.0, observed_at=T0),
            "region-c": ReplicationLag(seconds=2.0, observed_at=T0),
        },
    )
    new = ContinuumStatus(
        phase="Degraded",
        replication_lag={"region-b": ReplicationLag(seconds=1.0, observed_at=T0)},
    )
    body = msgspec.json.decode(encode_status_patch(new, previous=old))
    assert body == {
        "status": {"phase": "Degraded", "leaseHolder": None, "replicationLag": {"region-c": None}}
    }


def test_journal_encodes_from_as_from() -> None:
    journal = SwitchoverJournal(
        id="sw-1",
        step="flip-dns",
        step_index=4,
        from_="region-a",
        to="region-b",
        epoch=9,
        started_at=T0,
    )
    wire = msgspec.to_builtins(journal)
    assert wire["from"] == "region-a"
    assert wire["stepIndex"] == 4
    assert SWITCHOVER_STEPS[wire["stepIndex"] - 1] == wire["step"]


def test_max_replication_lag_is_the_largest_measured_lag() -> None:
    lag = {
        "a": ReplicationLag(seconds=0.25, observed_at=T0),
        "b": ReplicationLag(seconds=2.54, observed_at=T0),
    }
    assert max_replication_lag(lag) == "2.5s"
    assert max_replication_lag({}) is None
    assert max_replication_lag({"a": ReplicationLag(seconds=0, observed_at=T0)}) == "0s"
