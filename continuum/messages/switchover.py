"""Switchover wire shapes: the plan, the CNPG pair as observed, the journal entry, the result,
the DryRun report and the post-switchover health report.

JSON field names are camelCase; those of :class:`DryRunReport` and :class:`HealthReport` are a
contract with the UI (``spec/dryrun-health.md``). No I/O, no logic beyond tiny pure helpers.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

# --- names -----------------------------------------------------------------------------------


class StepName(enum.StrEnum):
    """The seven steps, in order. One name each, used everywhere (Execute, DryRun, journal)."""

    VALIDATE_LEASE = "validate-lease"
    CORDON_OLD_PRIMARY = "cordon-old-primary"
    DRAIN_HTTP = "drain-http"
    FLIP_DNS = "flip-dns"
    SWAP_LEASE = "swap-lease"
    PROMOTE_NEW_PRIMARY = "promote-new-primary"
    AUDIT_EMIT = "audit-emit"


STEP_ORDER: tuple[StepName, ...] = tuple(StepName)


def step_number(step: StepName) -> int:
    """1-based position of ``step`` in :data:`STEP_ORDER`."""
    return STEP_ORDER.index(step) + 1


class Mechanism(enum.StrEnum):
    """How the database half of the application moves. ``stateless`` skips steps 2 and 6."""

    CNPG_PAIR = "cnpg-pair"
    STATELESS = "stateless"


class CnpgMode(enum.StrEnum):
    """``distributed``: CNPG's declarative ``spec.replica.primary`` + demotion/promotion token
    handshake. ``replica-flip``: the seed's ``spec.replica.enabled`` flip, fenced with
    ``cnpg.io/fencedInstances``."""

    DISTRIBUTED = "distributed"
    REPLICA_FLIP = "replica-flip"


# --- the plan -------------------------------------------------------------------------------


class ObjectRef(msgspec.Struct, frozen=True, kw_only=True):
    """A namespaced Kubernetes object (Cluster pair label value, HTTPRoute)."""

    name: str
    namespace: str


class DnsPlan(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What ``flip-dns`` publishes: LUA-synthesis inputs minus the primary, plus the zone.

    ``region_ips`` maps region → public LB IPv4s; ``probe_hosts`` region → probe host.
    """

    zone: str
    hostnames: tuple[str, ...]
    region_ips: dict[str, tuple[str, ...]]
    health_check_url: str
    probe_hosts: dict[str, str] = msgspec.field(default_factory=dict)
    selector: str = "ifurlup"
    health_check_interval_seconds: int = 5
    health_check_timeout_seconds: int = 2
    ttl: int = 30


class StepTimeouts(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Per-step bounds (seconds) on the injected clock.

    ``drain_http`` bounds the route writes only; the drain wait itself is ``drain_seconds``.
    ``compensation`` bounds each compensating action. ``lost_region`` replaces the step bound
    in unplanned mode for the actions that need the lost region (cordon, drain).
    """

    validate_lease: float = 5.0
    cordon_old_primary: float = 60.0
    drain_http: float = 15.0
    flip_dns: float = 15.0
    swap_lease: float = 5.0
    promote_new_primary: float = 120.0
    audit_emit: float = 3.0
    compensation: float = 30.0
    lost_region: float = 5.0

    def for_step(self, step: StepName) -> float:
        """The bound of ``step``'s action."""
        return float(getattr(self, step.value.replace("-", "_")))


class Plan(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One switchover, fully resolved from the CR (see ``docs/switchover.md``).

    ``drain_seconds`` defaults to 10 when absent; an explicit 0 means no drain wait (the
    reference replaced 0 by 10). ``epoch`` is the lease generation the plan was made under
    (the fencing token). ``unplanned`` is auto-failover mode: ``from_region`` is lost, the
    steps that need it run with ``timeouts.lost_region`` and are recorded as skipped when they
    fail, the lease is acquired (it has expired) rather than handed over, and the promotion is
    CNPG's failover path (no promotion token).
    """

    continuum_name: str
    from_region: str
    to_region: str
    application_name: str = ""
    mechanism: Mechanism = Mechanism.CNPG_PAIR
    cnpg_mode: CnpgMode = CnpgMode.DISTRIBUTED
    pair: ObjectRef | None = None
    route: ObjectRef | None = None
    drain_seconds: int = 10
    dns: DnsPlan | None = None
    reason: str = "operator-requested"
    initiated_by: str = ""
    lease_ttl_seconds: float = 30.0
    epoch: int = 0
    timeouts: StepTimeouts = msgspec.field(default_factory=StepTimeouts)
    unplanned: bool = False

    @property
    def lease_key(self) -> str:
        """The witness slot: the CR's ``<ns>/<name>``."""
        return self.continuum_name


# --- the CNPG pair as observed -----------------------------------------------------------------


class PairHalf(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One CNPG ``Cluster`` of the pair, from its live spec and status.

    ``error`` is non-empty when this half could not be read (its region's API is down, or
    the Cluster is not there); the other fields are then zero values, and ``missing`` tells
    the second case (the API answered that no such Cluster exists: deleted, or not created
    yet). ``replica_primary``/``replica_self`` are the distributed-topology
    ``spec.replica.primary``/``spec.replica.self`` ("" when unset). ``role_secrets``: the
    ``spec.managed.roles[].passwordSecret.name`` of the Cluster, de-duplicated, in spec order.
    """

    region: str
    name: str
    namespace: str
    ready: bool = False
    ready_instances: int | None = None
    """``status.readyInstances`` (``None``: not published)."""
    replica_enabled: bool = False
    replica_primary: str = ""
    replica_self: str = ""
    current_primary: str = ""
    demotion_token: str = ""
    fenced: bool = False
    timeline_id: int | None = None
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    phase: str = ""
    error: str = ""
    missing: bool = False
    role_secrets: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        return not self.error

    @property
    def acts_as_primary(self) -> bool:
        """Role from the live spec, never from labels: with the distributed topology the half
        is primary iff ``spec.replica.primary`` names itself; otherwise iff
        ``spec.replica.enabled`` is false."""
        if self.replica_primary:
            return self.replica_primary == (self.replica_self or self.name)
        return not self.replica_enabled

    @property
    def distributed(self) -> bool:
        """Whether the half uses the distributed topology (``spec.replica.primary`` set)."""
        return bool(self.replica_primary)


class PairState(msgspec.Struct, frozen=True, kw_only=True):
    """Both halves of a pair, one per region."""

    halves: tuple[PairHalf, ...]

    def half(self, region: str) -> PairHalf | None:
        """The half in ``region``, or ``None``."""
        for half in self.halves:
            if half.region == region:
                return half
        return None

    def acting_primaries(self) -> list[str]:
        """Regions whose reachable half acts as primary (exactly one when healthy)."""
        return [h.region for h in self.halves if h.reachable and h.acts_as_primary]


# --- HTTPRoute backends ------------------------------------------------------------------------


def backend_in_region(backend: str, region: str) -> bool:
    """The backend naming convention shared by the domain and the HTTPRoute adapter:
    ``<app>-<region>``."""
    return bool(region) and backend.endswith("-" + region)


class RouteState(msgspec.Struct, frozen=True, kw_only=True):
    """One copy of an HTTPRoute as read: ``weights`` by backend name, and ``before_drain``,
    the weights recorded on it by the last drain that left it serving nothing (``None``:
    none recorded, or the record unreadable). A record is a fact about the past, not a
    wish: whether it fits the holder now is for the reader to judge."""

    weights: dict[str, int]
    before_drain: dict[str, int] | None = None


# --- the journal and the result ---------------------------------------------------------------

JournalPhase = Literal["forward", "compensating", "done"]


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What the actor persists in ``status.switchover`` BEFORE each step (and each
    compensation), so a new actor can resume or compensate (``docs/switchover.md``).

    ``step`` is the step about to run (forward) or about to be compensated; ``completed``
    the steps finished so far, ``compensated`` those already undone. ``epoch`` is the fencing
    epoch in force (the handover generation once ``swap-lease`` completed).
    ``prior_weights`` and ``demotion_token`` carry what compensation needs.
    """

    id: str
    plan: Plan
    step: StepName
    phase: JournalPhase
    epoch: int
    started_at: str
    completed: tuple[StepName, ...] = ()
    compensated: tuple[StepName, ...] = ()
    skipped: tuple[StepName, ...] = ()
    prior_weights: dict[str, int] = msgspec.field(default_factory=dict)
    demotion_token: str = ""


StepStatus = Literal["completed", "failed", "skipped", "compensated", "compensation-failed"]


class StepReport(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One step or compensation outcome, in the order it happened."""

    step: StepName
    status: StepStatus
    duration_seconds: float
    error: str = ""


class SwitchoverResult(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What a run did. ``failed_step`` is ``None`` on success. ``compensation_failures`` maps a
    step to the error its compensation raised (never swallowed). ``audit_error`` is set when
    the audit sink refused the event: it never fails the switchover.
    ``finished_at`` is set on every exit path, so a failed run still has its duration."""

    id: str
    from_region: str
    to_region: str
    ok: bool
    started_at: str
    finished_at: str
    steps_completed: tuple[StepName, ...] = ()
    failed_step: StepName | None = None
    error: str = ""
    compensated: tuple[StepName, ...] = ()
    compensation_failures: dict[str, str] = msgspec.field(default_factory=dict)
    skipped: tuple[StepName, ...] = ()
    durations: dict[str, float] = msgspec.field(default_factory=dict)
    new_epoch: int = 0
    audit_error: str = ""
    steps: tuple[StepReport, ...] = ()
    rolled_back: bool = False
    """The run was undone (a failure, or a journal found compensating or undecidable-forward
    after a restart): the writer stays on ``from`` even when no step needed undoing."""


StepEventKind = Literal[
    "starting",
    "finished",
    "failed",
    "skipped",
    "compensating",
    "compensated",
    "compensation-failed",
]


class StepEvent(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Progress reported to the owner. For ``starting`` and ``compensating`` the owner must
    persist ``journal`` before returning from the callback."""

    kind: StepEventKind
    step: StepName
    journal: JournalEntry
    duration_seconds: float = 0.0
    error: str = ""


# --- DryRun ----------------------------------------------------------------------------------


class DryRunStep(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One of the seven steps as DryRun evaluated it (field names per dryrun-health.md)."""

    step: int
    name: str
    preconditionsMet: bool
    estimatedDurationSeconds: int
    notes: list[str] = msgspec.field(default_factory=list)


class DryRunReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The DryRun answer. ``steps`` always has seven entries; blockers disable Confirm."""

    planFingerprint: str
    steps: list[DryRunStep]
    estimatedDurationSeconds: int
    estimatedWriteDisruptionSeconds: int
    generatedAt: str
    warnings: list[str] = msgspec.field(default_factory=list)
    blockers: list[str] = msgspec.field(default_factory=list)
    leaseHolder: str = ""
    leaseExpiresAt: str = ""
    leaseGeneration: int = 0


# --- health ----------------------------------------------------------------------------------

CheckStatus = Literal["pass", "fail", "unknown"]
HealthVerdict = Literal["healthy", "unhealthy", "unknown"]


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One (hostname × vantage) DNS probe."""

    hostname: str
    vantage: str
    status: CheckStatus
    addresses: list[str] = msgspec.field(default_factory=list)
    error: str = ""


class HealthCheck(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One check. ``passed`` mirrors ``status == "pass"`` for the reference UI."""

    name: str
    status: CheckStatus
    passed: bool
    deferred: bool = False
    detail: str = ""
    durationSeconds: float = 0.0
    probes: list[ProbeResult] = msgspec.field(default_factory=list)


class HealthReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Four checks in fixed order. ``verdict`` ignores deferred checks: any failure →
    ``unhealthy``, else any unknown → ``unknown``, else ``healthy``."""

    newPrimaryRegion: str
    checks: list[HealthCheck]
    verdict: HealthVerdict
    generatedAt: str
    overallHealthy: bool


__all__ = [
    "STEP_ORDER",
    "CnpgMode",
    "DnsPlan",
    "DryRunReport",
    "DryRunStep",
    "HealthCheck",
    "HealthReport",
    "JournalEntry",
    "Mechanism",
    "ObjectRef",
    "PairHalf",
    "PairState",
    "Plan",
    "ProbeResult",
    "RouteState",
    "StepEvent",
    "StepName",
    "StepReport",
    "StepTimeouts",
    "SwitchoverResult",
    "backend_in_region",
    "step_number",
]
