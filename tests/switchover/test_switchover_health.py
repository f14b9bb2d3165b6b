"""PostSwitchoverHealth: each check passing, failing, unknown and deferred; the summary."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.core.health_record import summarize, summarize_error
from continuum.errors import AuditUnavailable, ResolverUnavailable
from continuum.messages.audit import AuditType, new_event
from continuum.messages.switchover import Mechanism, Plan
from continuum.switchover.health import (
    CHECK_NAMES,
    HealthOptions,
    post_switchover_health,
)
from continuum.switchover.sequencer import Sequencer
from tests.switchover.fakes import (
    IPS,
    KEY,
    A,
    B,
    FakeAuditTail,
    FakeResolver,
    World,
    autojumping,
    make_world,
)

pytestmark = pytest.mark.anyio

VANTAGES = ("127.0.0.1:5300", "127.0.0.2:5300", "127.0.0.3:5300")


async def switched() -> tuple[World, Plan, FakeAuditTail, FakeResolver]:
    world = await make_world(FakeClock())
    plan = world.plan()
    result = await autojumping(
        world.clock, lambda: Sequencer(world.ports()).execute(plan, switchover_id="sw-9")
    )
    assert result.ok
    return world, plan, FakeAuditTail(world.sink.events), FakeResolver(list(IPS[B]))


def options(
    world: World, tail: FakeAuditTail | None, resolver: FakeResolver | None, **kw: object
) -> HealthOptions:
    return HealthOptions(
        clock=world.clock,
        pair=world.pair,
        resolver=resolver,
        vantages=VANTAGES,
        audit_tail=tail,
        **kw,  # type: ignore[arg-type]
    )


async def run_health(world: World, plan: Plan, opts: HealthOptions) -> object:
    return await autojumping(
        world.clock, lambda: post_switchover_health(plan, opts, switchover_id="sw-9")
    )


async def test_all_checks_pass_after_a_switchover_and_latency_is_deferred() -> None:
    world, plan, tail, resolver = await switched()
    report = await run_health(world, plan, options(world, tail, resolver))
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    status = {c.name: (c.status, c.deferred) for c in report.checks}
    assert status == {
        "replicas-healthy": ("pass", False),
        "dns-probes": ("pass", False),
        "latency-normal": ("unknown", True),
        "audit-posted": ("pass", False),
    }
    assert report.verdict == "healthy"
    assert report.overallHealthy
    assert len(resolver.queries) == 2 * 3
    assert summarize(report) == (
        "True",
        "PostSwitchoverHealth",
        f"healthy: 3 passed, 0 failed, 1 deferred (new primary={B})",
    )


async def test_a_vantage_answering_the_old_region_fails_dns_probes() -> None:
    world, plan, tail, resolver = await switched()
    resolver.answers[("web.example.com", VANTAGES[1])] = list(IPS[A])
    report = await run_health(world, plan, options(world, tail, resolver))
    dns = report.checks[1]
    assert dns.status == "fail"
    assert f"web.example.com@{VANTAGES[1]}=fail" in dns.detail
    assert report.verdict == "unhealthy"
    status, _, message = summarize(report)
    assert status == "False"
    assert message.startswith("UNHEALTHY: 2 passed, 1 failed")
    assert "failed: dns-probes" in message


async def test_a_vantage_that_does_not_answer_makes_its_pairs_unknown_not_failed() -> None:
    world, plan, tail, resolver = await switched()
    resolver.answers[("api.example.com", VANTAGES[2])] = ResolverUnavailable("no answer")
    resolver.answers[("web.example.com", VANTAGES[2])] = "hang"
    report = await run_health(world, plan, options(world, tail, resolver, probe_timeout=2.0))
    dns = report.checks[1]
    assert dns.status == "unknown"
    assert {p.status for p in dns.probes if p.vantage == VANTAGES[2]} == {"unknown"}
    assert {p.status for p in dns.probes if p.vantage != VANTAGES[2]} == {"pass"}
    assert report.verdict == "unknown"
    assert summarize(report)[0] == "Unknown"


async def test_a_half_not_ready_fails_replicas_healthy() -> None:
    world, plan, tail, resolver = await switched()
    world.pair.halves[A].ready = False
    report = await run_health(world, plan, options(world, tail, resolver))
    assert report.checks[0].status == "fail"
    assert "new-replica" in report.checks[0].detail


async def test_wrong_roles_fail_replicas_healthy() -> None:
    world, plan, tail, resolver = await switched()
    world.pair.halves[A].replica_primary = world.pair.halves[A].name  # A still primary too
    report = await run_health(world, plan, options(world, tail, resolver))
    assert report.checks[0].status == "fail"
    assert "acts as primary" in report.checks[0].detail


async def test_an_unreadable_half_makes_replicas_healthy_unknown() -> None:
    world, plan, tail, resolver = await switched()
    world.pair.unreachable.add(A)
    report = await run_health(world, plan, options(world, tail, resolver))
    assert report.checks[0].status == "unknown"


async def test_missing_audit_event_fails_and_unreachable_store_is_unknown() -> None:
    world, plan, _, resolver = await switched()
    empty = FakeAuditTail([])
    report = await run_health(world, plan, options(world, empty, resolver))
    assert report.checks[3].status == "fail"
    empty.available = False
    report = await run_health(world, plan, options(world, empty, resolver))
    assert report.checks[3].status == "unknown"


async def test_audit_posted_without_run_id_matches_from_and_to() -> None:
    world, plan, _, resolver = await switched()
    other = new_event(
        AuditType.SWITCHOVER,
        continuum=KEY,
        occurred_at=world.clock.now(),
        fromPrimary=B,
        toPrimary=A,
    )
    opts = options(world, FakeAuditTail([other]), resolver)
    report = await autojumping(world.clock, lambda: post_switchover_health(plan, opts))
    assert report.checks[3].status == "fail"


async def test_unconfigured_sources_are_deferred_and_do_not_count() -> None:
    world, plan, _, _ = await switched()
    report = await run_health(world, plan, options(world, None, None))
    assert [c.deferred for c in report.checks] == [False, True, True, True]
    assert report.verdict == "healthy"
    assert summarize(report)[2] == f"healthy: 1 passed, 0 failed, 3 deferred (new primary={B})"


async def test_latency_source_is_measured_against_the_threshold() -> None:
    world, plan, tail, resolver = await switched()

    async def fast(region: str) -> float:
        return 0.05

    async def slow(region: str) -> float:
        return 2.0

    ok = await run_health(world, plan, options(world, tail, resolver, latency=fast))
    bad = await run_health(world, plan, options(world, tail, resolver, latency=slow))
    assert ok.checks[2].status == "pass"
    assert not ok.checks[2].deferred
    assert bad.checks[2].status == "fail"


async def test_stateless_plan_defers_the_database_check() -> None:
    world, plan, tail, resolver = await switched()
    stateless = plan.__class__(
        **{
            **{f: getattr(plan, f) for f in plan.__struct_fields__},
            "mechanism": Mechanism.STATELESS,
        }
    )
    report = await run_health(world, stateless, options(world, tail, resolver))
    assert report.checks[0].deferred


def test_audit_unavailable_is_the_error_the_tail_raises() -> None:
    assert issubclass(AuditUnavailable, Exception)


def test_an_errored_health_run_is_unknown_with_the_error_in_the_message() -> None:
    assert summarize_error("pair read failed: 503\n  traceback line") == (
        "Unknown",
        "HealthCheckErrored",
        "PostSwitchoverHealth errored: pair read failed: 503",
    )
    assert summarize_error("")[2] == "PostSwitchoverHealth errored: unknown error"
    assert len(summarize_error("x" * 5000)[2]) == 900


async def test_a_caller_cancelled_before_the_call_gets_no_report_and_queries_nothing() -> None:
    """TestPostSwitchoverHealth_CtxCancel: the health run honours its caller's cancellation
    before its first check, and while a check waits on a vantage."""
    world, plan, tail, resolver = await switched()
    reports: list[object] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        reports.append(
            await post_switchover_health(plan, options(world, tail, resolver), switchover_id="x")
        )
    assert scope.cancelled_caught
    assert reports == []
    assert resolver.queries == []


async def test_a_caller_cancelled_while_a_vantage_hangs_gets_no_report() -> None:
    world, plan, tail, resolver = await switched()
    resolver.answers[("web.example.com", VANTAGES[0])] = "hang"
    reports: list[object] = []

    async def check() -> None:
        reports.append(
            await post_switchover_health(plan, options(world, tail, resolver), switchover_id="x")
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(check)
        await anyio.wait_all_tasks_blocked()
        assert resolver.queries  # the run is waiting on a vantage
        tg.cancel_scope.cancel()
    assert reports == []


@pytest.mark.parametrize(
    ("pair_down", "dns", "audit", "latency"),
    [  # every value of every source at least once, and the all-failing and all-absent runs
        (False, "answers", "posted", "fast"),
        (True, "refuses", "missing", "raises"),
        (True, "answers", "unreachable", "unconfigured"),
        (False, "refuses", "unconfigured", "fast"),
        (False, "unconfigured", "missing", "raises"),
        (True, "unconfigured", "unconfigured", "unconfigured"),
        (True, "refuses", "unreachable", "raises"),
    ],
)
async def test_every_run_reports_exactly_the_four_checks_in_order(
    pair_down: bool, dns: str, audit: str, latency: str
) -> None:
    """TestPostSwitchoverHealth_AlwaysFourChecks: whatever each source does, the report has
    the four named checks, in order, and nothing else."""
    world, plan, tail, resolver = await switched()
    if pair_down:
        world.pair.unreachable.add(A)
    used_resolver: FakeResolver | None = resolver
    if dns == "refuses":
        resolver.default = ResolverUnavailable("refused")  # type: ignore[assignment]
    elif dns == "unconfigured":
        used_resolver = None
    used_tail: FakeAuditTail | None = tail
    if audit == "missing":
        used_tail = FakeAuditTail([])
    elif audit == "unreachable":
        tail.available = False
    elif audit == "unconfigured":
        used_tail = None

    async def fast(region: str) -> float:
        return 0.05

    async def broken(region: str) -> float:
        raise OSError("latency probe down")

    source = {"fast": fast, "raises": broken, "unconfigured": None}[latency]
    report = await run_health(world, plan, options(world, used_tail, used_resolver, latency=source))
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert len(CHECK_NAMES) == 4
