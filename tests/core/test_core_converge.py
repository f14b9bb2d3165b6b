"""The convergence rule as a pure function: what disagrees with the holder, and what the
acting writer does about it."""

from __future__ import annotations

from continuum.core.converge import Converge, Mismatch, MismatchKey, World, assess, decide
from continuum.messages.switchover import PairHalf, PairState

A, B = "fsn", "hel"
REGIONS = (A, B)


def half(region: str, *, primary: bool, **kw: object) -> PairHalf:
    name = f"pg-{region}"
    return PairHalf(
        region=region,
        name=name,
        namespace="ns",
        ready=True,
        replica_self=name,
        replica_primary=name if primary else f"pg-{A if region == B else B}",
        **kw,  # type: ignore[arg-type]
    )


def world(holder: str = A, *halves: PairHalf, **kw: object) -> World:
    pair = PairState(halves=halves) if halves else None
    return World(holder=holder, regions=REGIONS, pair=pair, **kw)  # type: ignore[arg-type]


def kinds(found: tuple[Mismatch, ...]) -> set[str]:
    return {m.kind for m in found}


def act(
    w: World, *, acting: str = A, quiet: bool = True, seen_before: bool = True
) -> list[Converge]:
    found = assess(w)
    previous = frozenset(m.key for m in found) if seen_before else frozenset()
    return decide(w, found, previous=previous, acting_region=acting, quiet=quiet)


AGREEING = {"shop-fsn": 100, "shop-hel": 0}
TO_A = {"shop-fsn": 100, "shop-hel": 0}
TO_B = {"shop-fsn": 0, "shop-hel": 100}


def test_a_world_that_agrees_has_no_mismatch_and_no_action() -> None:
    w = world(
        A,
        half(A, primary=True),
        half(B, primary=False),
        dns_wrong=(),
        routes={A: AGREEING, B: AGREEING},
    )
    assert assess(w) == ()
    assert act(w) == []


def test_no_holder_known_assesses_nothing() -> None:
    w = world("", half(A, primary=False), half(B, primary=False))
    assert assess(w) == ()


def test_no_primary_promotes_the_holder_with_the_other_half_s_token() -> None:
    w = world(A, half(A, primary=False), half(B, primary=False, demotion_token="t1"))
    assert kinds(assess(w)) == {"WriterMismatch"}
    assert act(w) == [Converge(action="promote-holder", towards=A, token="t1")]


def test_no_primary_and_the_other_half_unreachable_uses_the_failover_path() -> None:
    gone = PairHalf(region=B, name="pg-hel", namespace="ns", error="unreachable")
    w = world(A, half(A, primary=False), gone)
    assert act(w) == [Converge(action="promote-holder", towards=A, token="")]


def test_the_only_primary_in_another_region_is_demoted_never_promoted_over() -> None:
    """The holder's half a replica while the other acts as primary (decision #26): seen
    twice, the other half is demoted towards the holder — never a second primary beside it
    (``promote-holder`` follows once no half is primary, with the demotion's token)."""
    w = world(A, half(A, primary=False), half(B, primary=True))
    assert kinds(assess(w)) == {"WriterMismatch"}
    assert act(w, seen_before=False) == []
    assert act(w) == [Converge(action="demote-other", towards=A, region=B)]
    assert act(w, acting=B) == []
    assert act(w, quiet=False) == []
    demoted = world(A, half(A, primary=False), half(B, primary=False, demotion_token="t9"))
    assert act(demoted) == [Converge(action="promote-holder", towards=A, token="t9")]


def test_the_other_region_s_primary_in_replica_flip_is_made_a_replica() -> None:
    mine = PairHalf(region=A, name="pg-fsn", namespace="ns", ready=True, replica_enabled=True)
    theirs = PairHalf(region=B, name="pg-hel", namespace="ns", ready=True, replica_enabled=False)
    assert act(world(A, mine, theirs)) == [
        Converge(action="demote-other", towards=A, region=B, distributed=False)
    ]


def test_the_other_primary_is_not_demoted_unless_the_holder_s_half_can_take_over() -> None:
    """Not while the holder's half is unreadable (nothing to promote), fenced (unfenced
    first), or itself primary (two primaries: ``demote-stale-primary``'s job)."""
    gone = PairHalf(region=A, name="pg-fsn", namespace="ns", error="unreachable")
    assert act(world(A, gone, half(B, primary=True))) == []
    fenced = world(
        A, half(A, primary=False, fenced=True), half(B, primary=True), dns_wrong=("shop",)
    )
    assert act(fenced) == [Converge(action="unfence-holder", towards=A)]  # DNS waits too
    assert act(world(A, half(A, primary=True), half(B, primary=True))) == []


def test_dns_and_routes_wait_while_the_only_primary_is_another_region_s() -> None:
    """Moving traffic to a holder whose half is a replica moves every write to a replica (a
    write outage): DNS and the routes follow once the pair has converged."""
    w = world(
        A,
        half(A, primary=False),
        half(B, primary=True),
        dns_wrong=("shop.example.com",),
        routes={A: TO_B, B: TO_B},
    )
    assert kinds(assess(w)) == {"WriterMismatch", "DnsMismatch", "RouteDrained", "RouteSplit"}
    assert act(w) == [Converge(action="demote-other", towards=A, region=B)]
    promoted = world(
        A,
        half(A, primary=True),
        half(B, primary=False),
        dns_wrong=("shop.example.com",),
        routes={A: TO_B, B: TO_B},
    )
    assert [c.action for c in act(promoted)] == ["restore-dns", "serve-route", "serve-route"]


def test_a_fenced_holder_is_unfenced() -> None:
    w = world(A, half(A, primary=True, fenced=True), half(B, primary=False))
    assert kinds(assess(w)) == {"WriterFenced"}
    assert act(w) == [Converge(action="unfence-holder", towards=A)]


def test_dns_naming_another_region_is_restored() -> None:
    w = world(A, dns_wrong=("web.example.com",))
    assert kinds(assess(w)) == {"DnsMismatch"}
    assert act(w) == [Converge(action="restore-dns", towards=A)]


def test_a_drained_route_is_served_and_the_other_region_drained() -> None:
    w = world(B, routes={B: TO_A})
    assert kinds(assess(w)) == {"RouteDrained", "RouteSplit"}
    assert act(w, acting=B) == [
        Converge(action="serve-route", towards=B, drain=(A,), route_region=B)
    ]


def test_every_backend_at_zero_is_served() -> None:
    w = world(A, routes={A: {"shop-fsn": 0, "shop-hel": 0}})
    assert kinds(assess(w)) == {"RouteDrained"}
    assert act(w) == [Converge(action="serve-route", towards=A, drain=(), route_region=A)]


def test_both_regions_routes_wrong_are_each_served_the_holder_s_region_first() -> None:
    w = world(B, routes={A: TO_A, B: {"shop-fsn": 0, "shop-hel": 0}})
    assert [(m.kind, m.region) for m in assess(w)] == [
        ("RouteDrained", B),
        ("RouteDrained", A),
        ("RouteSplit", A),
    ]
    assert act(w, acting=B) == [
        Converge(action="serve-route", towards=B, drain=(), route_region=B),
        Converge(action="serve-route", towards=B, drain=(A,), route_region=A),
    ]


def test_only_the_other_region_s_route_wrong_is_the_only_one_served() -> None:
    """After A → B, A's instance re-weighted A's route; B's copy still sends to A."""
    w = world(B, routes={A: TO_B, B: TO_A})
    found = assess(w)
    assert [m.detail for m in found] == [
        f"route in {B} sends nothing to {B}",
        f"route in {B} also sends to {A}",
    ]
    assert act(w, acting=B) == [
        Converge(action="serve-route", towards=B, drain=(A,), route_region=B)
    ]


def test_an_unreadable_route_is_unobserved_never_acted_on() -> None:
    """A copy that could not be read is ``Unobserved`` (agreement is never assumed) and no
    action touches it; the readable copy is still assessed and repaired."""
    w = world(B, routes={A: None, B: TO_A})
    assert {(m.kind, m.region) for m in assess(w)} >= {("Unobserved", A)}
    assert [a.route_region for a in act(w, acting=B)] == [B]
    unread = world(B, routes={A: None, B: TO_B})
    assert [(m.kind, m.region) for m in assess(unread)] == [("Unobserved", A)]
    assert act(unread, acting=B) == []
    no_context = world(B, routes={B: TO_B})
    assert assess(no_context) == ()


def test_an_unreadable_other_half_is_unobserved_never_acted_on() -> None:
    """Simulator seed 4892: the writer cannot read the other region's Cluster (its region
    cut off, its instance down, its Cluster perhaps still primary): it must not say the world
    agrees, and it must not act on what it cannot see."""
    w = world(A, half(A, primary=True), half(B, primary=False, error="503"))
    assert [(m.kind, m.region) for m in assess(w)] == [("Unobserved", B)]
    assert act(w, acting=A) == []


def test_unreadable_dns_records_are_unobserved_never_agreement() -> None:
    """Simulator seed 3126: DNS records configured but unreadable at the observation that
    followed a rollback (records still naming the target) were taken as nothing to say, and
    the standby said ``Healthy``. They are ``Unobserved`` now, and nothing is acted on;
    records not configured (``dns_wrong`` ``None`` without an error) are still not assessed."""
    agreeing = (half(A, primary=True), half(B, primary=False))
    w = world(A, *agreeing, dns_unreadable=True)
    assert [(m.kind, m.region) for m in assess(w)] == [("Unobserved", "")]
    assert act(w, acting=A) == []
    assert assess(world(A, *agreeing)) == ()
    stale = world(A, *agreeing, dns_wrong=("shop.example.com",), dns_unreadable=True)
    assert kinds(assess(stale)) == {"Unobserved"}  # what was not read says nothing wrong


def test_a_standby_that_cannot_read_the_holder_s_cluster_reports_a_writer_mismatch() -> None:
    """Simulator seed 125657: the holder's region is cut off after a failed compensation left
    no Cluster primary. The standby, assessing against the holder, cannot read the holder's
    Cluster: a ``WriterMismatch`` (never agreement), and it acts on nothing (not acting). Read
    again, no primary at all is a ``WriterMismatch`` too."""
    cut_off = PairHalf(region=A, name="pg-fsn", namespace="ns", error="timeout")
    w = world(A, cut_off, half(B, primary=False))
    assert [m.kind for m in assess(w)] == ["WriterMismatch"]
    assert act(w, acting="") == []
    none_primary = world(A, half(A, primary=False), half(B, primary=False))
    assert [m.kind for m in assess(none_primary)] == ["WriterMismatch"]
    assert act(none_primary, acting="") == []


def test_a_route_mismatch_seen_before_only_in_another_region_is_not_acted_on() -> None:
    """The "seen twice" rule is per route: a disagreement that moved from one region's route
    to the other's is new."""
    w = world(B, routes={A: TO_B, B: TO_A})
    found = assess(w)
    before_elsewhere: frozenset[MismatchKey] = frozenset({("RouteDrained", A), ("RouteSplit", A)})
    assert decide(w, found, previous=before_elsewhere, acting_region=B, quiet=True) == []
    before_here = frozenset(m.key for m in found)
    assert len(decide(w, found, previous=before_here, acting_region=B, quiet=True)) == 1


def test_only_the_acting_holder_acts_only_when_quiet_and_only_on_a_repeated_mismatch() -> None:
    w = world(A, half(A, primary=False), half(B, primary=False), dns_wrong=("x",))
    assert act(w, acting="") == []
    assert act(w, acting=B) == []
    assert act(w, quiet=False) == []
    assert act(w, seen_before=False) == []
    assert act(w) != []


ZERO = {"shop-fsn": 0, "shop-hel": 0}


def test_a_route_left_serving_nothing_gets_the_weights_recorded_before_its_drain() -> None:
    """Convergence is the last resort after the journaled undo: the weights the drain found
    (100, not the 1 of the fallback) come back, in one write."""
    w = world(A, routes={A: ZERO}, route_records={A: {"shop-fsn": 100, "shop-hel": 0}})
    assert act(w) == [
        Converge(
            action="serve-route",
            towards=A,
            route_region=A,
            weights=(("shop-fsn", 100), ("shop-hel", 0)),
        )
    ]


def test_without_a_record_the_holder_gets_weight_one_and_the_others_zero() -> None:
    w = world(A, routes={A: ZERO})
    (action,) = act(w)
    assert action.weights == ()
    assert (action.drain, action.towards) == ((), A)


def test_a_record_that_does_not_fit_the_holder_is_not_restored() -> None:
    """A record of the other region's tenure, one that also serves another region, one
    naming other backends than the route has now, and one serving nothing: the fallback."""
    for record in (
        {"shop-fsn": 0, "shop-hel": 100},  # serves B; A holds
        {"shop-fsn": 50, "shop-hel": 50},  # split
        {"shop-fsn": 100},  # the route has another backend since
        {"shop-fsn": 100, "shop-hel": 0, "shop-old": 5},  # names a backend no longer there
        {"shop-fsn": 0, "shop-hel": 0},  # nothing to give back
    ):
        w = world(A, routes={A: ZERO}, route_records={A: record})
        (action,) = act(w)
        assert action.weights == (), record
        assert action.action == "serve-route"


def test_a_record_is_used_only_for_the_copy_it_was_read_from() -> None:
    w = world(
        A,
        routes={A: ZERO, B: ZERO},
        route_records={B: {"shop-fsn": 7, "shop-hel": 0}},
    )
    actions = act(w)
    assert [(a.route_region, a.weights) for a in actions] == [
        (A, ()),
        (B, (("shop-fsn", 7), ("shop-hel", 0))),
    ]
