"""Properties of the rendezvous assignment: deterministic, balanced, minimal movement."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from continuum.leader.assignment import Assignment, owner

member_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20)
members_sets = st.lists(member_ids, min_size=1, max_size=8, unique=True)
keys = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=200, unique=True)

KEYS = [f"ns-{n % 7}/continuum-{n:05d}" for n in range(4000)]


@given(members_sets, keys, st.randoms())
def test_owner_is_deterministic_and_independent_of_member_order(
    members: list[str], ks: list[str], rnd: random.Random
) -> None:
    shuffled = list(members)
    rnd.shuffle(shuffled)
    for key in ks:
        first = owner(key, members)
        assert first in members
        assert owner(key, shuffled) == first
        assert Assignment(shuffled).owner(key) == first


def test_no_members_own_nothing() -> None:
    assert owner("ns/a", []) is None
    assert not Assignment([]).owns("x", "ns/a")


@settings(max_examples=20, deadline=None)
@given(st.lists(member_ids, min_size=2, max_size=6, unique=True))
def test_keys_are_balanced_across_members(members: list[str]) -> None:
    counts = Counter(owner(key, members) for key in KEYS)
    fair = len(KEYS) / len(members)
    assert set(counts) == set(members)
    for member in members:
        # 4,000 keys: a binomial share stays well within ±35 % of fair for n ≤ 6.
        assert 0.65 * fair <= counts[member] <= 1.35 * fair, (member, counts)


@settings(max_examples=30, deadline=None)
@given(st.lists(member_ids, min_size=5, max_size=5, unique=True))
def test_a_fifth_member_joining_moves_at_most_a_quarter_and_only_to_itself(
    five: list[str],
) -> None:
    four, joiner = five[:4], five[4]
    before = Assignment(four)
    after = Assignment(five)
    moved = [k for k in KEYS if before.owner(k) != after.owner(k)]
    assert all(after.owner(k) == joiner for k in moved)  # nobody else's keys move
    assert len(moved) <= 0.25 * len(KEYS)


@settings(max_examples=30, deadline=None)
@given(members_sets.filter(lambda m: len(m) >= 2), st.data())
def test_a_member_leaving_moves_only_its_own_keys(members: list[str], data: st.DataObject) -> None:
    leaver = data.draw(st.sampled_from(members))
    before = Assignment(members)
    after = Assignment([m for m in members if m != leaver])
    for key in KEYS[:1000]:
        if before.owner(key) != leaver:
            assert after.owner(key) == before.owner(key)
        else:
            assert after.owner(key) != leaver
