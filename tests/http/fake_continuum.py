"""A small real Actor that answers the API's request messages from canned state.

The boundary under test is the HTTP API: routing, auth, validation, error mapping and the
``ask``. The real ContinuumActor is tested elsewhere; this one answers like it does (same
messages, same replies, same ``ReplyError``s) from a :class:`CannedState` the test controls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import msgspec

from continuum.actors.replies import BadRequest, NotReady, SpecNotValid, SwitchoverRefused
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
from continuum.messages.switchover import (
    STEP_ORDER,
    DryRunReport,
    DryRunStep,
    HealthCheck,
    HealthReport,
    step_number,
)

FINGERPRINT = "0123456789abcdef"
PRIMARY = "eu-west"
STANDBY = "eu-central"


def dry_run_report(*, blockers: list[str] | None = None) -> DryRunReport:
    """A precomputed DryRun report (what a cached DryRun costs: nothing but the encode)."""
    return DryRunReport(
        planFingerprint=FINGERPRINT,
        steps=[
            DryRunStep(
                step=step_number(step),
                name=step.value,
                preconditionsMet=not blockers,
                estimatedDurationSeconds=2,
                notes=[f"{step.value} ok"],
            )
            for step in STEP_ORDER
        ],
        estimatedDurationSeconds=14,
        estimatedWriteDisruptionSeconds=6,
        generatedAt="2026-01-01T00:00:00Z",
        warnings=["replication lag unknown"],
        blockers=list(blockers or []),
        leaseHolder=PRIMARY,
        leaseExpiresAt="2026-01-01T00:00:30Z",
        leaseGeneration=7,
    )


def health_report() -> HealthReport:
    checks = ["replicas-healthy", "dns-probes", "latency-normal", "audit-posted"]
    return HealthReport(
        newPrimaryRegion=STANDBY,
        checks=[HealthCheck(name=c, status="pass", passed=True) for c in checks],
        verdict="healthy",
        generatedAt="2026-01-01T00:01:00Z",
        overallHealthy=True,
    )


@dataclass
class CannedState:
    """What the fake actor answers. ``mode``: ``ok``, ``not-ready``, ``spec-invalid``,
    ``hang`` (waits until ``release`` is set), ``crash`` (raises: the actor dies)."""

    namespace: str
    name: str
    blockers: list[str] = field(default_factory=list)
    mode: str = "ok"
    received: list[msgspec.Struct] = field(default_factory=list)
    hanging: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)

    def summary(self) -> ContinuumSummary:
        return ContinuumSummary(
            namespace=self.namespace,
            name=self.name,
            region=PRIMARY,
            acting=True,
            phase="Ready",
            primaryRegion=PRIMARY,
            actingPrimary=PRIMARY,
            hotStandbyRegions=[STANDBY],
            leaseHolder=PRIMARY,
            leaseGeneration=7,
            leaseExpiresAt=datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC),
        )


class FakeContinuum(Actor):
    """Answers DryRunRequest, HealthRequest, StatusRequest and SwitchoverRequest."""

    serves_views = True

    def __init__(self, state: CannedState) -> None:
        self.state = state
        self.report = dry_run_report(blockers=state.blockers)

    def view(self) -> ContinuumSummary:
        """The summary, as the real actor serves it: outside the mailbox, whatever a message
        in flight is doing."""
        return self.state.summary()

    async def on_message(self, message: msgspec.Struct) -> object:
        state = self.state
        state.received.append(message)
        if state.mode == "crash":
            raise RuntimeError("canned crash")
        if state.mode == "hang":
            state.hanging.set()
            await state.release.wait()
        if state.mode == "not-ready":
            raise NotReady("witness not read yet")
        if state.mode == "spec-invalid":
            raise SpecNotValid("spec.regions: need two regions")
        if isinstance(message, StatusRequest):
            return state.summary()
        if isinstance(message, HealthRequest):
            return health_report()
        if isinstance(message, DryRunRequest):
            self._check_target(message.toRegion)
            return dry_run_report(blockers=state.blockers)
        if isinstance(message, SwitchoverRequest):
            self._check_target(message.toRegion)
            return self._switchover(message)
        return await super().on_message(message)

    def _check_target(self, to_region: str) -> None:
        if to_region == PRIMARY:
            raise BadRequest(f"{to_region} is already the acting primary", field="body.toRegion")
        if to_region != STANDBY:
            raise BadRequest(
                f"{to_region} is not a region of this Continuum", field="body.toRegion"
            )

    def _switchover(self, message: SwitchoverRequest) -> SwitchoverAccepted:
        report = dry_run_report(blockers=self.state.blockers)
        if message.fingerprint != report.planFingerprint:
            raise SwitchoverRefused(
                RefusalDetail(
                    reason="fingerprint-mismatch",
                    message="the plan changed since your DryRun; review the new report",
                    report=report,
                )
            )
        if report.blockers:
            raise SwitchoverRefused(
                RefusalDetail(reason="blocked", message="the DryRun has blockers", report=report)
            )
        return SwitchoverAccepted(
            id="so-0001",
            fromRegion=PRIMARY,
            toRegion=message.toRegion,
            planFingerprint=report.planFingerprint,
        )
