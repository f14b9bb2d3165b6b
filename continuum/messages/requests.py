"""Requests the edges (HTTP API, CLI) ask a ContinuumActor, and the replies they get.

Every request is answered by the actor that owns the CR (``registry.get("ns/name")``);
handlers hold no domain state. Failures come back as the ``ReplyError`` subclasses in
``continuum.actors.replies`` (each maps to one HTTP status).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from continuum.messages.status import Condition, LastHealth, LastSwitchover, SwitchoverJournal
from continuum.messages.switchover import DryRunReport

RegionName = Annotated[str, Meta(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
Reason = Annotated[str, Meta(max_length=256)]
Fingerprint = Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$")]


class DryRunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Preview a switchover to ``toRegion`` (read-only end to end). Reply: ``DryRunReport``."""

    toRegion: RegionName
    reason: Reason = ""


class HealthRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The latest post-switchover HealthReport; computed now against the acting primary when
    none exists yet (or when ``fresh``). Reply: ``HealthReport``."""

    fresh: bool = False


class StatusRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A status summary of the CR as this instance sees it. Reply: ``ContinuumSummary``."""


class SwitchoverRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Start a switchover to ``toRegion`` — only when ``fingerprint`` equals the current
    DryRun's and that DryRun has no blockers (the Confirm Switchover button).
    Reply: ``SwitchoverAccepted``; refusal: ``SwitchoverRefused`` carrying the current report.
    """

    toRegion: RegionName
    fingerprint: Fingerprint
    reason: Reason = ""
    initiatedBy: Reason = ""


class SwitchoverAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The switchover ``id`` has started; progress is in status and ``StatusRequest``."""

    id: str
    fromRegion: str
    toRegion: str
    planFingerprint: str


class ContinuumSummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What ``GET /v1/continuums/{ns}/{name}`` returns."""

    namespace: str
    name: str
    region: str
    acting: bool
    phase: str = ""
    applicationRef: str = ""
    primaryRegion: str = ""
    actingPrimary: str = ""
    hotStandbyRegions: list[str] = msgspec.field(default_factory=list)
    leaseHolder: str = ""
    leaseGeneration: int = 0
    leaseExpiresAt: datetime | None = None
    switchover: SwitchoverJournal | None = None
    lastSwitchover: LastSwitchover | None = None
    lastHealth: LastHealth | None = None
    specError: str = ""
    conditions: list[Condition] = msgspec.field(default_factory=list)


class RefusalDetail(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Why a switchover was refused, with the DryRun that decided it (when there is one)."""

    reason: str
    message: str
    report: DryRunReport | None = None
