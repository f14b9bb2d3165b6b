"""Ownership as a pure rule: each pair, route and hostname goes to the earliest CR naming it
(creationTimestamp, then uid); a later CR naming any of them holds nothing and is in conflict
with the first holder; the result does not depend on the order the CRs were seen in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.ownership import (
    Claim,
    Claimant,
    Ownership,
    claimant_of,
    claims_of,
    conflict_report,
    resolve,
)
from continuum.messages.crd import Continuum

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _cr(name: str, uid: str, *, at: int = 0, **spec: Any) -> Continuum:
    body: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "acme",
            "uid": uid,
            "creationTimestamp": (T0 + timedelta(seconds=at)).isoformat(),
        },
        "spec": {
            "applicationRef": "shop",
            "primaryRegion": "region-a",
            "hotStandbyRegions": ["region-b"],
            "leaseClient": {"kind": "k8s-lease"},
            **spec,
        },
    }
    return msgspec.convert(body, Continuum)


LUA = {"healthCheck": {"url": "https://x.example.test/healthz"}}


def test_claims_name_the_pair_route_and_each_hostname() -> None:
    cr = _cr(
        "one",
        "u1",
        cnpgPair={"name": "db"},
        httpRoute={"name": "web", "namespace": "edge"},
        luaRecord={**LUA, "hostnames": ["www.shop.test", "api.shop.test"]},
    )
    assert claims_of(cr) == {
        Claim("spec.cnpgPair", "acme/db"),
        Claim("spec.httpRoute", "edge/web"),
        Claim("spec.luaRecord.hostnames", "www.shop.test"),
        Claim("spec.luaRecord.hostnames", "api.shop.test"),
    }


def test_the_earlier_cr_owns_and_the_later_is_in_conflict_naming_it() -> None:
    first = _cr("first", "zzz", at=0, cnpgPair={"name": "db"})
    second = _cr("second", "aaa", at=5, cnpgPair={"name": "db", "namespace": "acme"})
    conflicts = resolve([claimant_of(second), claimant_of(first)])
    assert list(conflicts) == ["acme/second"]
    conflict = conflicts["acme/second"]
    assert conflict.owner == "acme/first"
    assert "spec.cnpgPair" in conflict.message
    assert "acme/first" in conflict.message


def test_equal_timestamps_are_ordered_by_uid() -> None:
    a = claimant_of(_cr("a", "uid-2", cnpgPair={"name": "db"}))
    b = claimant_of(_cr("b", "uid-1", cnpgPair={"name": "db"}))
    assert resolve([a, b])["acme/a"].owner == "acme/b"


def test_one_shared_hostname_among_several_conflicts() -> None:
    a = _cr(
        "a", "1", at=0, luaRecord={**LUA, "hostnames": ["www.shop.test"]}, cnpgPair={"name": "x"}
    )
    b = _cr(
        "b",
        "2",
        at=1,
        luaRecord={**LUA, "hostnames": ["api.shop.test", "www.shop.test"]},
        cnpgPair={"name": "y"},
    )
    conflict = resolve([claimant_of(a), claimant_of(b)])["acme/b"]
    assert conflict.claim == Claim("spec.luaRecord.hostnames", "www.shop.test")


def test_the_loser_holds_nothing_so_a_third_cr_is_not_blocked_by_it() -> None:
    a = _cr("a", "1", at=0, cnpgPair={"name": "x"})
    b = _cr("b", "2", at=1, cnpgPair={"name": "x"}, httpRoute={"name": "web"})
    c = _cr("c", "3", at=2, cnpgPair={"name": "z"}, httpRoute={"name": "web"})
    assert set(resolve(claimant_of(cr) for cr in (a, b, c))) == {"acme/b"}


def test_distinct_resources_never_conflict() -> None:
    crs = [_cr(f"c{i}", str(i), cnpgPair={"name": f"db{i}"}) for i in range(5)]
    assert resolve(claimant_of(cr) for cr in crs) == {}


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sets(st.sampled_from(["p1", "p2", "r1", "h1"]))),
        min_size=1,
        max_size=6,
    )
)
def test_the_result_is_independent_of_order_and_each_resource_has_one_owner(
    specs: list[tuple[int, set[str]]],
) -> None:
    claimants = [
        Claimant(
            key=f"acme/c{i}",
            uid=f"u{i}",
            created=T0 + timedelta(seconds=at),
            claims=frozenset(Claim("spec.x", r) for r in resources),
        )
        for i, (at, resources) in enumerate(specs)
    ]
    results = [resolve(order) for order in itertools.islice(itertools.permutations(claimants), 24)]
    assert all(r == results[0] for r in results)
    owners: dict[Claim, str] = {}
    for c in claimants:
        if c.key in results[0]:
            assert results[0][c.key].owner != c.key
            continue
        for claim in c.claims:
            assert owners.setdefault(claim, c.key) == c.key


_CHANGE = st.tuples(
    st.integers(0, 5),  # which key
    st.one_of(
        st.none(),  # removed
        st.tuples(
            st.integers(0, 3), st.sets(st.sampled_from(["p1", "p2", "r1", "r2", "h1", "h2"]))
        ),
    ),
)


@given(st.lists(_CHANGE, min_size=1, max_size=30))
def test_the_incremental_index_answers_as_resolve_after_every_change(
    changes: list[tuple[int, tuple[int, set[str]] | None]],
) -> None:
    """Puts, replacements and removals in any order: after each, every key's conflict is what
    resolve() over the whole set gives, and the keys returned cover every key that moved."""
    index = Ownership()
    held: dict[str, Claimant] = {}
    before: dict[str, object] = {}
    for which, change in changes:
        key = f"acme/c{which}"
        if change is None:
            affected = index.remove(key)
            held.pop(key, None)
        else:
            at, resources = change
            claimant = Claimant(
                key=key,
                uid=f"u{which}",
                created=T0 + timedelta(seconds=at),
                claims=frozenset(Claim("spec.x", r) for r in resources),
            )
            affected = index.put(claimant)
            held[key] = claimant
        expected = resolve(held.values())
        after = {k: index.get(k) for k in held}
        assert {k: c for k, c in after.items() if c is not None} == expected
        assert len(index) == len(held)
        moved = {k for k in set(after) | set(before) if after.get(k) != before.get(k)}
        assert moved <= affected
        before = dict(after)


def test_an_unchanged_claimant_affects_nothing_and_a_far_one_is_not_revisited() -> None:
    index = Ownership()
    crs = [_cr(f"c{i}", str(i), at=i, cnpgPair={"name": f"db{i}"}) for i in range(100)]
    for cr in crs:
        assert index.put(claimant_of(cr)) == {f"acme/c{cr.metadata.name[1:]}"}
    assert index.put(claimant_of(crs[7])) == frozenset()
    late = _cr("late", "z", at=500, cnpgPair={"name": "db3"})
    assert index.put(claimant_of(late)) == {"acme/c3", "acme/late"}
    conflict = index.get("acme/late")
    assert conflict is not None
    assert conflict.owner == "acme/c3"
    assert index.remove("acme/c3") == {"acme/c3", "acme/late"}
    assert index.get("acme/late") is None
    assert index.remove("acme/nobody") == frozenset()


def test_the_dry_run_of_a_cr_in_conflict_is_blocked_at_step_one_naming_the_owner() -> None:
    a = _cr("a", "1", at=0, cnpgPair={"name": "x"})
    b = _cr("b", "2", at=1, cnpgPair={"name": "x"})
    conflict = resolve([claimant_of(a), claimant_of(b)])["acme/b"]
    report = conflict_report(conflict, generated_at="2026-01-01T00:00:00Z")
    assert [s.step for s in report.steps] == [1, 2, 3, 4, 5, 6, 7]
    assert report.blockers
    assert report.blockers[0].startswith("step-1: ")
    assert "acme/a" in report.blockers[0]
    assert report.planFingerprint == ""


def test_a_cr_without_creation_timestamp_sorts_after_dated_ones() -> None:
    dated = Claimant("acme/d", "z", T0, frozenset({Claim("f", "r")}))
    undated = Claimant("acme/u", "a", None, frozenset({Claim("f", "r")}))
    assert resolve([undated, dated])["acme/u"].owner == "acme/d"
