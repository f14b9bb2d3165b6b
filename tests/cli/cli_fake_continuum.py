"""A small real Actor the CLI tests put behind the real HTTP API.

It answers the request messages like a ContinuumActor would, from a :class:`Scenario` the
test controls. Once a switchover is accepted, every ``StatusRequest`` advances a scripted
timeline by ``ticks_per_status`` ticks: one journal entry per step (and per compensation),
then ``lastSwitchover``, then ``lastHealth`` of that switchover — so the CLI's progress
following is exercised without any timer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from continuum.actors.replies import BadRequest, NotReady, SwitchoverRefused
from continuum.actors.runtime import Actor
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    HealthRequest,
    RefusalDetail,
    StatusRequest,
    SwitchoverAccepted,
    SwitchoverRequest,
)
from continuum.messages.status import (
    SWITCHOVER_STEPS,
    HealthCheckSummary,
    LastHealth,
    LastSwitchover,
    SwitchoverJournal,
)
from continuum.messages.switchover import DryRunReport, DryRunStep, HealthCheck, HealthReport

FINGERPRINT = "0123456789abcdef"
CHANGED_FINGERPRINT = "fedcba9876543210"
PRIMARY = "eu-west"
STANDBY = "eu-central"
SWITCHOVER_ID = "so-0001"
CHECKS = ("replicas-healthy", "dns-probes", "latency-normal", "audit-posted")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Scenario:
    """What the fake answers. ``fail_at``: the step that fails (then the completed steps are
    compensated in reverse). ``fingerprint_changes``: the plan changes between DryRun and
    switchover (409 fingerprint-mismatch). ``unavailable_ticks``: that many status asks
    during the run answer 503 (an actor restarting). ``health_lands``: whether
    ``lastHealth`` ever appears."""

    blockers: list[str] = field(default_factory=list)
    fail_at: str | None = None
    fingerprint_changes: bool = False
    health_verdict: str = "healthy"
    health_lands: bool = True
    ticks_per_status: int = 1
    unavailable_ticks: int = 0
    received: list[msgspec.Struct] = field(default_factory=list)


def dry_run_report(*, blockers: list[str], fingerprint: str = FINGERPRINT) -> DryRunReport:
    return DryRunReport(
        planFingerprint=fingerprint,
        steps=[
            DryRunStep(
                step=i,
                name=step,
                preconditionsMet=not (blockers and step == "validate-lease"),
                estimatedDurationSeconds=10 if step == "drain-http" else 2,
                notes=[f"{step} ready"],
            )
            for i, step in enumerate(SWITCHOVER_STEPS, 1)
        ],
        estimatedDurationSeconds=22,
        estimatedWriteDisruptionSeconds=14,
        generatedAt="2026-01-01T00:00:00Z",
        warnings=["replication lag 0.4s"],
        blockers=list(blockers),
        leaseHolder=PRIMARY,
        leaseExpiresAt="2026-01-01T00:00:30Z",
        leaseGeneration=7,
    )


def health_report(verdict: str) -> HealthReport:
    status = "pass" if verdict == "healthy" else "fail"
    return HealthReport(
        newPrimaryRegion=STANDBY,
        checks=[
            HealthCheck(
                name=name,
                status=status if name == "dns-probes" else "pass",  # type: ignore[arg-type]
                passed=status == "pass" or name != "dns-probes",
                detail=f"{name} {status if name == 'dns-probes' else 'pass'}",
                durationSeconds=0.5,
            )
            for name in CHECKS
        ],
        verdict=verdict,  # type: ignore[arg-type]
        generatedAt="2026-01-01T00:02:00Z",
        overallHealthy=verdict == "healthy",
    )


def _timeline(scenario: Scenario) -> list[dict[str, object]]:
    """The summaries' varying part, one per tick."""
    steps = list(SWITCHOVER_STEPS)
    ticks: list[dict[str, object]] = []
    last_step = steps.index(scenario.fail_at) if scenario.fail_at else len(steps) - 1
    for i in range(last_step + 1):
        ticks.append({"switchover": _journal(steps[i], completed=steps[:i])})
    result: LastSwitchover
    if scenario.fail_at is None:
        result = _last("Succeeded", completed=steps)
    else:
        done = steps[:last_step]
        undone: list[str] = []
        for step in reversed(done):
            ticks.append(
                {
                    "switchover": _journal(
                        step, completed=done, compensated=undone, state="compensating"
                    )
                }
            )
            undone = [*undone, step]
        result = _last(
            "Compensated",
            completed=done,
            compensated=undone,
            failed_at=scenario.fail_at,
            error="route write timed out",
        )
    ticks.append({"lastSwitchover": result})
    if scenario.health_lands and scenario.fail_at is None:
        ticks.append({"lastSwitchover": result, "lastHealth": _health(scenario.health_verdict)})
    return ticks


def _journal(
    step: str,
    *,
    completed: list[str],
    compensated: list[str] | None = None,
    state: str = "running",
) -> SwitchoverJournal:
    return SwitchoverJournal(
        id=SWITCHOVER_ID,
        step=step,  # type: ignore[arg-type]
        step_index=SWITCHOVER_STEPS.index(step) + 1,  # type: ignore[arg-type]
        from_=PRIMARY,
        to=STANDBY,
        epoch=7,
        started_at=T0,
        state=state,  # type: ignore[arg-type]
        completed_steps=list(completed),  # type: ignore[arg-type]
        compensated_steps=list(compensated or []),  # type: ignore[arg-type]
    )


def _last(
    result: str,
    *,
    completed: list[str],
    compensated: list[str] | None = None,
    failed_at: str | None = None,
    error: str = "",
) -> LastSwitchover:
    return LastSwitchover(
        id=SWITCHOVER_ID,
        from_=PRIMARY,
        to=STANDBY,
        result=result,  # type: ignore[arg-type]
        failed_at_step=failed_at,  # type: ignore[arg-type]
        completed_steps=list(completed),  # type: ignore[arg-type]
        compensated_steps=list(compensated or []),  # type: ignore[arg-type]
        started_at=T0,
        finished_at=datetime(2026, 1, 1, 0, 0, 21, tzinfo=UTC),
        duration_seconds=21.5,
        error=error,
    )


def _health(verdict: str) -> LastHealth:
    return LastHealth(
        checked_at=datetime(2026, 1, 1, 0, 2, tzinfo=UTC),
        switchover_id=SWITCHOVER_ID,
        to_region=STANDBY,
        verdict=verdict,  # type: ignore[arg-type]
        checks=[HealthCheckSummary(name=name, status="pass") for name in CHECKS],
    )


class ScriptedContinuum(Actor):
    """Answers DryRun, Health, Status and Switchover requests from a :class:`Scenario`."""

    def __init__(self, scenario: Scenario, *, namespace: str, name: str) -> None:
        self.scenario = scenario
        self.namespace = namespace
        self.name = name
        self.timeline: list[dict[str, object]] = []
        self.tick = -1
        self.unavailable_left = 0

    async def on_message(self, message: msgspec.Struct) -> object:
        self.scenario.received.append(message)
        if isinstance(message, StatusRequest):
            return self._status()
        if isinstance(message, HealthRequest):
            return health_report(self.scenario.health_verdict)
        if isinstance(message, DryRunRequest):
            self._check_target(message.toRegion)
            return dry_run_report(blockers=self.scenario.blockers)
        if isinstance(message, SwitchoverRequest):
            self._check_target(message.toRegion)
            return self._switchover(message)
        return await super().on_message(message)

    def _check_target(self, to_region: str) -> None:
        if to_region != STANDBY:
            raise BadRequest(f"{to_region} is not a standby region of this Continuum")

    def _status(self) -> ContinuumSummary:
        varying: dict[str, object] = {}
        if self.timeline:
            if self.unavailable_left > 0 and self.tick >= 2:
                self.unavailable_left -= 1
                raise NotReady("actor restarting")
            self.tick = min(self.tick + self.scenario.ticks_per_status, len(self.timeline) - 1)
            varying = self.timeline[self.tick]
        return ContinuumSummary(
            namespace=self.namespace,
            name=self.name,
            region=PRIMARY,
            acting=True,
            phase="SwitchingOver" if "switchover" in varying else "Healthy",
            primaryRegion=PRIMARY,
            actingPrimary=PRIMARY,
            hotStandbyRegions=[STANDBY],
            leaseHolder=PRIMARY,
            leaseGeneration=7,
            **varying,  # type: ignore[arg-type]
        )

    def _switchover(self, message: SwitchoverRequest) -> SwitchoverAccepted:
        fingerprint = CHANGED_FINGERPRINT if self.scenario.fingerprint_changes else FINGERPRINT
        report = dry_run_report(blockers=self.scenario.blockers, fingerprint=fingerprint)
        if message.fingerprint != fingerprint:
            raise SwitchoverRefused(
                RefusalDetail(
                    reason="fingerprint-mismatch",
                    message="the plan changed since your DryRun; review the new report",
                    report=report,
                )
            )
        self.timeline = _timeline(self.scenario)
        self.unavailable_left = self.scenario.unavailable_ticks
        return SwitchoverAccepted(
            id=SWITCHOVER_ID,
            fromRegion=PRIMARY,
            toRegion=message.toRegion,
            planFingerprint=fingerprint,
        )
