"""DryRun: read-only, every blocker and warning, estimates, and agreement with Execute."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from continuum.clock import FakeClock
from continuum.errors import DnsWriteError, InvalidSpec, NotFound, Unavailable
from continuum.messages.switchover import CnpgMode, Mechanism, StepName
from continuum.switchover.dryrun import dry_run
from continuum.switchover.sequencer import Sequencer
from tests.switchover.fakes import KEY, A, B, World, autojumping, make_world

pytestmark = pytest.mark.anyio


async def report_for(world: World, **plan: Any) -> Any:
    ports = plan.pop("ports", None) or world.ports()
    return await dry_run(world.plan(**plan), ports)


async def test_happy_path_report_has_seven_named_steps_and_the_reference_estimates() -> None:
    world = await make_world(FakeClock())
    writes = world.writes()
    report = await report_for(world)
    assert report.blockers == []
    assert [s.name for s in report.steps] == [s.value for s in StepName]
    assert report.steps[5].name == "promote-new-primary"
    assert (report.estimatedDurationSeconds, report.estimatedWriteDisruptionSeconds) == (24, 14)
    assert report.leaseHolder == A
    assert report.leaseExpiresAt
    assert len(report.planFingerprint) == 16
    assert world.writes() == writes
    assert world.sink.events == []
    encoded = msgspec.json.decode(msgspec.json.encode(report))
    assert encoded["steps"][0]["preconditionsMet"] is True


async def test_without_a_route_drain_is_a_noop_and_estimates_shrink() -> None:
    world = await make_world(FakeClock())
    report = await report_for(world, route=None)
    assert (report.estimatedDurationSeconds, report.estimatedWriteDisruptionSeconds) == (14, 4)
    assert report.steps[2].estimatedDurationSeconds == 0


async def test_invalid_plan_raises_instead_of_reporting() -> None:
    world = await make_world(FakeClock())
    with pytest.raises(InvalidSpec):
        await report_for(world, to=A)


async def _third_party(world: World) -> None:
    await world.witness.release(world.lease)
    await world.witness.acquire(KEY, "third", 30.0)


async def _expired(world: World) -> None:
    world.clock.advance(31)


async def _unheld(world: World) -> None:
    await world.witness.release(world.lease)


async def _on_target(world: World) -> None:
    await world.witness.release(world.lease)
    await world.witness.acquire(KEY, B, 30.0)


async def _nothing(world: World) -> None:
    return None


BLOCKERS: list[tuple[str, Any, dict[str, Any], str]] = [
    ("no-witness", _nothing, {"ports": "witness"}, "step-1: Witness client is required"),
    ("witness-read", _nothing, {"fault": "witness"}, "step-1: witness read failed"),
    ("third-party", _third_party, {}, "third-party"),
    ("redundant", _on_target, {}, "redundant"),
    ("expired", _expired, {}, "expired at"),
    ("unheld", _unheld, {}, "unheld"),
    ("stale-epoch", _nothing, {"epoch": 99}, "stale plan"),
    ("no-pair", _nothing, {"ports": "pair"}, "step-2: CNPG reader is required"),
    ("pair-read", _nothing, {"fault": "pair"}, "step-2: cannot resolve cluster-pair"),
    ("mode", _nothing, {"cnpg_mode": CnpgMode.REPLICA_FLIP}, "uses the distributed topology"),
    ("no-route-port", _nothing, {"ports": "routes"}, "step-3: HTTPRoute drainer is required"),
    ("route-read", _nothing, {"fault": "routes"}, "step-3: cannot read HTTPRoute"),
    ("no-dns", _nothing, {"ports": "dns"}, "step-4: DNS record writer is required"),
    ("no-ips", _nothing, {"no_ips": True}, "step-4: no IPs configured for ToRegion"),
    ("no-audit", _nothing, {"ports": "audit"}, "step-7: Audit publisher is required"),
]


@pytest.mark.parametrize(
    ("setup", "knobs", "text"), [b[1:] for b in BLOCKERS], ids=[b[0] for b in BLOCKERS]
)
async def test_each_blocker_is_reported_with_its_step_prefix(
    setup: Any, knobs: dict[str, Any], text: str
) -> None:
    world = await make_world(FakeClock())
    await setup(world)
    plan: dict[str, Any] = {}
    knobs = dict(knobs)
    if "ports" in knobs:
        plan["ports"] = world.ports(**{knobs.pop("ports"): None})
    fault = knobs.pop("fault", None)
    if fault == "witness":
        world.witness.faults.add("read", Unavailable("witness down"))
    elif fault == "pair":
        world.pair.faults.add("read_pair", Unavailable("api down"))
    elif fault == "routes":
        world.routes.faults.add("read_weights", Unavailable("api down"))
    if knobs.pop("no_ips", False):
        dns = world.plan().dns
        assert dns is not None
        plan["dns"] = msgspec.structs.replace(dns, region_ips={A: dns.region_ips[A]})
    plan.update(knobs)
    report = await report_for(world, **plan)
    assert any(text in b for b in report.blockers), report.blockers
    assert all(b.startswith("step-") for b in report.blockers + report.warnings)
    assert len(report.steps) == 7


async def test_blockers_for_pair_roles_and_route_backends() -> None:
    world = await make_world(FakeClock())
    world.pair.halves[B].replica_primary = world.pair.halves[B].name  # B promoted too
    world.routes.weights = {"shop-other": 1}
    report = await report_for(world)
    text = " | ".join(report.blockers)
    assert "split brain" in text
    assert "matches FromRegion" in text
    assert "matches ToRegion" in text


async def test_blockers_for_a_target_that_is_not_ready_or_a_third_party_at_step_5() -> None:
    world = await make_world(FakeClock())
    world.pair.halves[B].ready = False
    await _third_party(world)
    report = await report_for(world)
    assert any(b.startswith("step-6: ") and "not Ready" in b for b in report.blockers)
    assert any(b.startswith("step-5: ") and "third-party" in b for b in report.blockers)


async def test_warnings_long_drain_stuck_primary_no_verifier_no_records() -> None:
    world = await make_world(FakeClock())
    world.pair.halves[A].demotion_token = "old-token"
    report = await report_for(
        world, drain_seconds=45, ports=world.ports(verify_dns=None, synthesize=lambda p: [])
    )
    text = " | ".join(report.warnings)
    assert "step-3: drain window 45s is unusually long" in text
    assert "likely stuck prior switchover" in text
    assert "step-4: no DNS verifier" in text
    assert "step-4: no lua-records will be written" in text


async def test_stateless_plan_has_no_database_blockers() -> None:
    world = await make_world(FakeClock())
    report = await report_for(
        world, mechanism=Mechanism.STATELESS, pair=None, ports=world.ports(pair=None)
    )
    assert report.blockers == []
    assert report.steps[1].estimatedDurationSeconds == 0


async def test_unplanned_failover_accepts_an_expired_lease_and_an_unreachable_old_half() -> None:
    world = await make_world(FakeClock())
    world.clock.advance(31)
    world.pair.unreachable.add(A)
    report = await report_for(world, unplanned=True)
    assert report.blockers == []


async def test_unplanned_failover_goes_on_when_no_cluster_acts_as_primary() -> None:
    """Seed 314267 (``--deletions``): a failover rolled back after demoting the lost writer's
    Cluster could not promote it again (its lease had lapsed); with no Cluster primary, the
    next automatic failover was blocked at step 2 for good. Unplanned, a lost writer's
    Cluster that no longer acts as primary is no blocker (a planned switchover still is)."""
    world = await make_world(FakeClock())
    world.clock.advance(31)
    world.pair.halves[A].replica_primary = world.pair.halves[B].name  # A demoted towards B
    report = await report_for(world, unplanned=True)
    assert report.blockers == []
    planned = await report_for(world)
    assert any("is not the acting primary" in b for b in planned.blockers)


# --- DryRun ⇔ Execute -----------------------------------------------------------------------

PERTURBATIONS: list[tuple[str, Any]] = [
    ("holder", B),
    ("holder", "third"),
    ("holder", ""),
    ("expired", True),
    ("expired", False),
    ("stale", True),
    ("b_primary", True),
    ("a_primary", False),
    ("b_ready", False),
    ("a_unreachable", True),
    ("route", "no-a"),
    ("route", "no-b"),
    ("route", "unreadable"),
    ("route", "none"),
    ("to_ips", False),
]

# Faults of the environment (not of the pair's roles): each must block the DryRun with a
# blocker naming its class, so that Execute never fails on it after the first write; a
# failure to ask (not a refusal) is a warning naming it instead (it may pass by the flip).
WARNING_ONLY = {"dns-unreachable"}
ENV_FAULTS: dict[str, str] = {
    "host-out-of-zone": "is outside zone",
    "zone-not-served": "is not served by the DNS writer",
    "dns-unreachable": "cannot ask the DNS writer",
    "witness-namespace-missing": "does not exist",
    "pair-missing": "cannot resolve cluster-pair",
    "pair-write-forbidden": "would refuse writes",
    "route-write-forbidden": "would refuse writes",
}

states = st.builds(
    lambda mode, mechanism, unplanned, env, perturb: {
        "env": env,
        "holder": A,
        "expired": unplanned,
        "stale": False,
        "b_primary": False,
        "a_primary": True,
        "b_ready": True,
        "a_unreachable": False,
        "route": "both",
        "to_ips": True,
        "mode": mode,
        "mechanism": mechanism,
        "unplanned": unplanned,
        **dict(perturb),
    },
    st.sampled_from(list(CnpgMode)),
    st.sampled_from(list(Mechanism)),
    st.booleans(),
    st.sampled_from([None, *ENV_FAULTS]),
    st.lists(st.sampled_from(PERTURBATIONS), max_size=3),
)


def _inject_env_fault(world: World, env: str | None) -> dict[str, Any]:
    """Apply ``env`` to ``world``; return the plan overrides it needs."""
    if env == "zone-not-served":
        world.dns.zones = {"example.org"}
    elif env == "dns-unreachable":
        world.dns.faults.add("zone_exists", DnsWriteError("powerdns: http: ConnectError"), times=99)
    elif env == "witness-namespace-missing":
        world.witness.namespace_missing = True
    elif env == "pair-write-forbidden":
        world.pair.forbidden.add(B)
    elif env == "route-write-forbidden":
        world.routes.forbidden = True
    elif env == "pair-missing":
        world.pair.faults.add("read_pair", NotFound('clusters "shop-pg" not found'), times=99)
    elif env == "host-out-of-zone":
        dns = world.plan().dns
        assert dns is not None
        return {"dns": msgspec.structs.replace(dns, hostnames=(*dns.hostnames, "shop.acme.io"))}
    return {}


async def _agreement(state: dict[str, Any]) -> None:
    clock = FakeClock()
    world = await make_world(clock, mode=state["mode"])
    if state["holder"] != A:
        await world.witness.release(world.lease)
        if state["holder"]:
            await world.witness.acquire(KEY, state["holder"], 30.0)
    if state["expired"]:
        clock.advance(31)
    pair = world.pair
    if pair.mode is CnpgMode.DISTRIBUTED:
        if state["b_primary"]:
            pair.halves[B].replica_primary = pair.halves[B].name
        if not state["a_primary"]:
            pair.halves[A].replica_primary = pair.halves[B].name
    else:
        pair.halves[B].replica_enabled = not state["b_primary"]
        pair.halves[A].replica_enabled = not state["a_primary"]
    pair.halves[B].ready = state["b_ready"]
    if state["a_unreachable"]:
        pair.unreachable.add(A)
    route = state["route"]
    if route == "no-a":
        world.routes.weights = {"shop-" + B: 0}
    elif route == "no-b":
        world.routes.weights = {"shop-" + A: 100}
    elif route == "unreadable":
        world.routes.faults.add("read_weights", Unavailable("down"), times=99)
    lease = await world.read_lease()
    overrides: dict[str, Any] = {
        "epoch": lease.generation + (1 if state["stale"] else 0),
        "mechanism": state["mechanism"],
        "unplanned": state["unplanned"],
        "drain_seconds": 0,
    }
    if route == "none":
        overrides["route"] = None
    overrides.update(_inject_env_fault(world, state["env"]))
    if not state["to_ips"]:
        dns = overrides.get("dns") or world.plan().dns
        assert dns is not None
        overrides["dns"] = msgspec.structs.replace(dns, region_ips={A: dns.region_ips[A]})
    plan = world.plan(**overrides)

    writes = world.writes()
    report = await dry_run(plan, world.ports())
    assert world.writes() == writes
    assert world.sink.events == []

    seq = Sequencer(world.ports())
    result = await autojumping(clock, lambda: seq.execute(plan, switchover_id="prop"))
    event("blocked" if report.blockers else "clear")
    env = state["env"]
    applies = env is not None
    if env in ("pair-missing", "pair-write-forbidden"):
        applies = state["mechanism"] is Mechanism.CNPG_PAIR
    if env == "route-write-forbidden":
        # Unplanned: the drain needs the lost region and is skipped (a warning, not a
        # blocker); no route, or an unreadable one, is not probed.
        applies = not state["unplanned"] and state["route"] not in ("none", "unreadable")
    if applies:
        event(f"env fault {env}")
        named = report.warnings if env in WARNING_ONLY else report.blockers
        assert any(ENV_FAULTS[env] in text for text in named), (env, named)
    if report.blockers:
        assert not result.ok
        assert result.steps_completed == ()
        assert world.writes() == writes, "a blocked Execute must write nothing"
    else:
        assert result.ok, (result.error, report)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(state=states)
def test_dry_run_has_no_blocker_exactly_when_execute_passes(
    anyio_backend: str, state: dict[str, Any]
) -> None:
    anyio.run(_agreement, state, backend=anyio_backend)


async def test_an_unanswered_write_probe_is_a_warning_and_a_refusal_a_blocker() -> None:
    world = await make_world(FakeClock())
    world.pair.faults.add("probe_writes", Unavailable("api down"), times=99)
    report = await report_for(world)
    assert report.blockers == []
    assert any("could not check that Cluster" in w for w in report.warnings)
    world.pair.faults = type(world.pair.faults)()
    world.pair.forbidden.add(A)
    report = await report_for(world)
    assert [b for b in report.blockers if "would refuse writes" in b] == [
        'step-2: Cluster "shop-pg-fsn" in region "hz-fsn-rtz-prod" would refuse writes: '
        "[hz-fsn-rtz-prod] patch clusters: HTTP 403: forbidden"
    ]


async def test_a_caller_cancelled_before_the_call_gets_no_report_and_nothing_is_read() -> None:
    """TestDryRun_CtxCancel: DryRun honours its caller's cancellation before the first read."""
    world = await make_world(FakeClock())
    writes = world.writes()
    reports: list[object] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        reports.append(await report_for(world))
    assert scope.cancelled_caught
    assert reports == []
    assert world.writes() == writes
    assert world.sink.events == []


async def test_a_caller_cancelled_while_a_read_hangs_gets_no_report_and_no_write() -> None:
    world = await make_world(FakeClock())
    writes = world.writes()
    world.pair.faults.add("read_pair", hang=True)
    reports: list[object] = []

    async def preview() -> None:
        reports.append(await report_for(world))

    async with anyio.create_task_group() as tg:
        tg.start_soon(preview)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert reports == []
    assert world.writes() == writes
    assert world.sink.events == []
