"""PostSwitchoverHealth: four read-only checks in fixed order, and the condition summary.

``replicas-healthy``, ``dns-probes``, ``latency-normal``, ``audit-posted`` always all run
(never short-circuited). Each is ``pass``/``fail``/``unknown`` (could not decide: an API or
resolver that did not answer), or ``deferred`` when its source is not configured. The verdict
ignores deferred checks: any failure → unhealthy; else any unknown → unknown; else healthy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import anyio

from continuum.config import DEFAULTS
from continuum.errors import ResolverUnavailable
from continuum.messages.audit import AuditType, event_id, format_timestamp
from continuum.messages.switchover import (
    CheckStatus,
    HealthCheck,
    HealthReport,
    HealthVerdict,
    Mechanism,
    PairHalf,
    Plan,
    ProbeResult,
)
from continuum.ports import AuditTail, Clock, ClusterPair, Resolver
from continuum.switchover.timeouts import with_timeout

__all__ = [
    "CHECK_NAMES",
    "HealthOptions",
    "LatencySource",
    "post_switchover_health",
]

CHECK_NAMES = ("replicas-healthy", "dns-probes", "latency-normal", "audit-posted")

LatencySource = Callable[[str], Awaitable[float]]
"""Measure the request latency (seconds) of a region's endpoint, for real."""


@dataclass(frozen=True, kw_only=True)
class HealthOptions:
    """Where the checks look. ``None`` sources make their check deferred (except the pair,
    whose absence is a failure for a ``cnpg-pair`` plan)."""

    clock: Clock
    pair: ClusterPair | None = None
    resolver: Resolver | None = None
    vantages: Sequence[str] = DEFAULTS.health_vantages
    probe_timeout: float = DEFAULTS.health_probe_timeout
    latency: LatencySource | None = None
    latency_threshold_seconds: float = 0.5
    audit_tail: AuditTail | None = None
    audit_window_seconds: float = 300.0
    read_timeout: float = 5.0
    after_switchover: bool = True
    """False for a health request when no switchover to the target happened: there is no
    ``continuum-switchover`` event to look for, so ``audit-posted`` is deferred."""


async def post_switchover_health(
    plan: Plan, options: HealthOptions, *, switchover_id: str = ""
) -> HealthReport:
    """Run the four checks for ``plan`` (the target is the new primary). Raises only the
    caller's cancellation. ``switchover_id`` pins ``audit-posted`` to that run's event."""
    await anyio.lowlevel.checkpoint_if_cancelled()
    clock = options.clock
    checks = []
    for name, fn in (
        ("replicas-healthy", _replicas_healthy),
        ("dns-probes", _dns_probes),
        ("latency-normal", _latency_normal),
        ("audit-posted", _audit_posted),
    ):
        t0 = clock.monotonic()
        try:
            status, deferred, detail, probes = await fn(plan, options, switchover_id)
        except Exception as exc:
            status, deferred, detail, probes = "unknown", False, f"check errored: {exc}", []
        checks.append(
            HealthCheck(
                name=name,
                status=status,
                passed=status == "pass" and not deferred,
                deferred=deferred,
                detail=detail,
                durationSeconds=clock.monotonic() - t0,
                probes=probes,
            )
        )
    verdict = _verdict(checks)
    return HealthReport(
        newPrimaryRegion=plan.to_region,
        checks=checks,
        verdict=verdict,
        generatedAt=format_timestamp(clock.now()),
        overallHealthy=verdict == "healthy",
    )


_Outcome = tuple[CheckStatus, bool, str, list[ProbeResult]]


def _verdict(checks: Sequence[HealthCheck]) -> HealthVerdict:
    counted = [c for c in checks if not c.deferred]
    if any(c.status == "fail" for c in counted):
        return "unhealthy"
    if any(c.status == "unknown" for c in counted):
        return "unknown"
    return "healthy"


def _combine(parts: Sequence[tuple[CheckStatus, str]]) -> tuple[CheckStatus, str]:
    for wanted in ("fail", "unknown"):
        bad = [text for status, text in parts if status == wanted]
        if bad:
            return wanted, "; ".join(bad)
    return "pass", "; ".join(text for _, text in parts)


# --- replicas-healthy ------------------------------------------------------------------------


def _judge_half(half: PairHalf | None, *, role: str, region: str) -> tuple[CheckStatus, str]:
    if half is None:
        return "fail", f'no Cluster in region "{region}"'
    if not half.reachable:
        return "unknown", f'{role} "{half.name}" unreadable: {half.error}'
    want_primary = role == "new-primary"
    if half.acts_as_primary != want_primary:
        acts = "primary" if half.acts_as_primary else "replica"
        return "fail", f'{role} "{half.name}" acts as {acts} (live spec.replica)'
    if not half.ready:
        return "fail", f'{role} "{half.name}" is not Ready (phase="{half.phase}")'
    return "pass", f'{role}="{half.name}" Ready'


async def _replicas_healthy(plan: Plan, options: HealthOptions, _: str) -> _Outcome:
    if plan.mechanism is Mechanism.STATELESS:
        return "pass", True, "deferred: stateless mechanism has no database pair", []
    if options.pair is None:
        return "fail", False, "CNPG pair not configured", []
    pair_port = options.pair
    try:
        pair = await with_timeout(options.clock, options.read_timeout, pair_port.read_pair)
    except Exception as exc:
        return "unknown", False, f"cannot read the pair: {exc or type(exc).__name__}", []
    status, detail = _combine(
        [
            _judge_half(pair.half(plan.to_region), role="new-primary", region=plan.to_region),
            _judge_half(pair.half(plan.from_region), role="new-replica", region=plan.from_region),
        ]
    )
    if status == "pass":
        detail = f"both halves Ready ({detail})"
    return status, False, detail, []


# --- dns-probes ----------------------------------------------------------------------------


async def _dns_probes(plan: Plan, options: HealthOptions, _: str) -> _Outcome:
    if options.resolver is None:
        return "unknown", True, "deferred: no DNS resolver configured", []
    if not options.vantages:
        return "unknown", True, "deferred: no DNS vantages configured", []
    expected = set(plan.dns.region_ips.get(plan.to_region, ())) if plan.dns else set()
    if not expected:
        return "fail", False, f'no expected IPs for ToRegion "{plan.to_region}"', []
    hostnames = plan.dns.hostnames if plan.dns else ()
    if not hostnames:
        return "fail", False, "no hostnames to probe", []
    resolver = options.resolver
    pairs = [(h, v) for h in hostnames for v in options.vantages]
    results: list[ProbeResult | None] = [None] * len(pairs)

    async def probe(index: int, hostname: str, vantage: str) -> None:
        try:
            addresses = await with_timeout(
                options.clock,
                options.probe_timeout,
                lambda: resolver.resolve_a(
                    hostname, nameserver=vantage, timeout=options.probe_timeout
                ),
            )
        except (ResolverUnavailable, TimeoutError) as exc:
            results[index] = ProbeResult(
                hostname=hostname, vantage=vantage, status="unknown", error=str(exc) or "timeout"
            )
            return
        except Exception as exc:
            results[index] = ProbeResult(
                hostname=hostname, vantage=vantage, status="fail", error=str(exc)
            )
            return
        ok = bool(set(addresses) & expected)
        results[index] = ProbeResult(
            hostname=hostname,
            vantage=vantage,
            status="pass" if ok else "fail",
            addresses=list(addresses),
            error="" if ok else ("0 IPs returned" if not addresses else "none in expected set"),
        )

    async with anyio.create_task_group() as tg:
        for index, (hostname, vantage) in enumerate(pairs):
            tg.start_soon(probe, index, hostname, vantage)
    done = [r for r in results if r is not None]

    def line(r: ProbeResult) -> str:
        answer = ",".join(r.addresses) if r.addresses else r.error
        return f"{r.hostname}@{r.vantage}={r.status}({answer})"

    failed = [r for r in done if r.status == "fail"]
    unknown = [r for r in done if r.status == "unknown"]
    summary = "; ".join(line(r) for r in done)
    if failed:
        head = f"{len(failed)}/{len(done)} vantage probes failed"
        return "fail", False, f"{head}: {summary}", done
    if unknown:
        head = f"{len(unknown)}/{len(done)} vantage probes unanswered"
        return "unknown", False, f"{head}: {summary}", done
    return "pass", False, f"all {len(done)} vantage probes resolved to expected IPs", done


# --- latency-normal ----------------------------------------------------------------------------


async def _latency_normal(plan: Plan, options: HealthOptions, _: str) -> _Outcome:
    if options.latency is None:
        return "unknown", True, "deferred: no latency source configured", []
    source = options.latency
    try:
        seconds = await with_timeout(
            options.clock, options.read_timeout, lambda: source(plan.to_region)
        )
    except Exception as exc:
        return "unknown", False, f"latency probe failed: {exc or type(exc).__name__}", []
    limit = options.latency_threshold_seconds
    detail = (
        f"latency to {plan.to_region} {seconds * 1000:.0f} ms (threshold {limit * 1000:.0f} ms)"
    )
    return ("pass" if seconds <= limit else "fail"), False, detail, []


# --- audit-posted ----------------------------------------------------------------------------


async def _audit_posted(plan: Plan, options: HealthOptions, switchover_id: str) -> _Outcome:
    if not options.after_switchover:
        return "unknown", True, "deferred: no switchover to this region to look for", []
    if options.audit_tail is None:
        return "unknown", True, "deferred: no audit tail configured", []
    tail, clock = options.audit_tail, options.clock
    since = clock.now() - timedelta(seconds=options.audit_window_seconds)
    wanted = (
        event_id(AuditType.SWITCHOVER.value, plan.continuum_name, switchover_id, "7/7")
        if switchover_id
        else None
    )
    try:
        event = await with_timeout(
            clock,
            options.read_timeout,
            lambda: tail.find(
                event_id=wanted,
                type=AuditType.SWITCHOVER,
                continuum=plan.continuum_name,
                since=None if wanted else since,
            ),
        )
    except Exception as exc:
        return "unknown", False, f"audit store unavailable: {exc or type(exc).__name__}", []
    if event is None:
        window = f"{options.audit_window_seconds:g}s"
        return "fail", False, f"no matching continuum-switchover audit in last {window}", []
    if event.fromPrimary != plan.from_region or event.toPrimary != plan.to_region:
        return (
            "fail",
            False,
            f"latest continuum-switchover is {event.fromPrimary}→{event.toPrimary}, "
            f"not {plan.from_region}→{plan.to_region}",
            [],
        )
    return (
        "pass",
        False,
        f"found continuum-switchover audit at {event.timestamp} "
        f"(from={plan.from_region} to={plan.to_region})",
        [],
    )
