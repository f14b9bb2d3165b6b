"""Replication posture, lag breach and standby grace: pure decisions over probe results.

* :func:`derive_posture` folds a primary's ``pg_stat_replication`` rows into one
  :class:`StandbyPosture` (integrations.md §5).
* :class:`LagBreachTracker` turns lag samples into a breach only after N consecutive samples
  above the CR's threshold — never on one sample (one slow sample must not move the writer).
* :func:`fold_standby` applies the grace window of controller.md §5.3 to one tick's signal,
  over a :class:`GraceMemory` (pure: the caller passes the monotonic instant);
  :class:`StandbyGrace` is the same rule on an injected clock.

No I/O here: the adapter (``continuum.adapters.pgprobe``) measures, these judge. Throughout,
``None`` means "not measured" and is never read as ``0``.
"""

from __future__ import annotations

import enum
import math

import msgspec

from continuum.messages.crd import ContinuumSpec
from continuum.messages.replication import ReplicationObservation, WalSender
from continuum.ports import Clock

__all__ = [
    "GraceMemory",
    "LagBreachTracker",
    "LagVerdict",
    "StandbyDetermination",
    "StandbyGrace",
    "StandbyPosture",
    "StandbySignal",
    "derive_posture",
    "fold_standby",
    "lag_threshold_seconds",
    "signal_from_posture",
]


# --- posture ---------------------------------------------------------------------------------


class StandbyPosture(msgspec.Struct, frozen=True, kw_only=True):
    """What the primary's walsender rows say about its standbys.

    ``standby_present``: at least one row — row existence is the signal, robust to column
    masking. ``streaming``: some row's state is ``streaming``. ``sync_standby_present``:
    some row's ``sync_state`` is ``sync`` or ``quorum``. ``masked_count``: rows whose details
    the probe role may not see (no ``pg_read_all_stats``); their state is unknown, not
    "not streaming". ``app_name``: the row named ``expected_application_name`` if any, else
    the first row's name (``""`` when masked or no rows). ``max_lag_seconds`` /
    ``max_lag_bytes``: maxima over the rows that measured one; ``None`` when no row did
    (the reference reported ``0`` there; an unmeasured lag is not a zero lag).
    """

    standby_present: bool
    standby_count: int
    streaming_count: int
    sync_count: int
    quorum_count: int
    masked_count: int
    expected_present: bool
    app_name: str
    max_lag_seconds: float | None
    max_lag_bytes: int | None

    @property
    def streaming(self) -> bool:
        return self.streaming_count > 0

    @property
    def sync_standby_present(self) -> bool:
        return self.sync_count + self.quorum_count > 0


def derive_posture(
    observation: ReplicationObservation, expected_application_name: str
) -> StandbyPosture:
    """Fold ``observation``'s rows into a :class:`StandbyPosture` (integrations.md §5)."""
    rows = observation.standbys
    expected = [
        r for r in rows if expected_application_name and _named(r, expected_application_name)
    ]
    if expected:
        app_name = expected[0].application_name
    else:
        app_name = rows[0].application_name if rows else ""
    lags = [r.lag_seconds for r in rows if r.lag_seconds is not None]
    lag_bytes = [r.lag_bytes for r in rows if r.lag_bytes is not None]
    return StandbyPosture(
        standby_present=bool(rows),
        standby_count=len(rows),
        streaming_count=sum(1 for r in rows if r.state == "streaming"),
        sync_count=sum(1 for r in rows if r.sync_state == "sync"),
        quorum_count=sum(1 for r in rows if r.sync_state == "quorum"),
        masked_count=sum(1 for r in rows if r.masked),
        expected_present=bool(expected),
        app_name=app_name,
        max_lag_seconds=max(lags) if lags else None,
        max_lag_bytes=max(lag_bytes) if lag_bytes else None,
    )


def _named(row: WalSender, name: str) -> bool:
    return row.application_name == name


# --- lag breach ------------------------------------------------------------------------------


def lag_threshold_seconds(spec: ContinuumSpec) -> float | None:
    """The lag above which a sample counts as a breach: ``spec.maxLagSeconds``, else the RPO
    in seconds, else ``None`` (lag breach off). Never the RTO: a recovery *time* objective
    bounds downtime, not data loss."""
    if spec.max_lag_seconds is not None:
        return float(spec.max_lag_seconds)
    rpo = spec.rpo_seconds
    return float(rpo) if rpo else None


class LagVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The tracker's state after one sample. ``counted`` is False for a sample that was
    ignored (unmeasured, or tracking disabled)."""

    breached: bool
    streak: int
    required: int
    threshold_seconds: float | None
    counted: bool


class LagBreachTracker:
    """Counts consecutive lag samples above a threshold; breached after ``required`` of them.

    Semantics of one :meth:`observe`:

    * a measured lag ``> threshold`` extends the streak by one;
    * a measured lag ``<= threshold`` resets the streak to 0 (the standby recovered);
    * an unmeasured sample (``None``, or NaN) changes nothing: it neither resets nor
      advances the streak — a probe failure is no evidence either way, and is never read
      as a lag of 0;
    * with no threshold (``None``) nothing is ever a breach.

    ``breached`` holds while the streak is at least ``required``.
    """

    def __init__(self, *, threshold_seconds: float | None, required: int = 3) -> None:
        if required < 1:
            raise ValueError("required must be at least 1")
        if threshold_seconds is not None and threshold_seconds < 0:
            raise ValueError("threshold_seconds must not be negative")
        self.threshold_seconds = threshold_seconds
        self.required = required
        self._streak = 0

    @classmethod
    def from_spec(cls, spec: ContinuumSpec) -> LagBreachTracker:
        """Threshold from :func:`lag_threshold_seconds`, N from
        ``spec.autoFailoverObservations``."""
        return cls(
            threshold_seconds=lag_threshold_seconds(spec),
            required=spec.auto_failover_observations,
        )

    @property
    def streak(self) -> int:
        return self._streak

    @property
    def breached(self) -> bool:
        return self.threshold_seconds is not None and self._streak >= self.required

    def observe(self, lag_seconds: float | None) -> LagVerdict:
        """Account for one sample (see the class docstring) and return the new state."""
        threshold = self.threshold_seconds
        counted = threshold is not None and lag_seconds is not None and not math.isnan(lag_seconds)
        if threshold is not None and lag_seconds is not None and counted:
            self._streak = self._streak + 1 if lag_seconds > threshold else 0
        return LagVerdict(
            breached=self.breached,
            streak=self._streak,
            required=self.required,
            threshold_seconds=self.threshold_seconds,
            counted=counted,
        )

    def reset(self) -> None:
        """Forget the streak (after a switchover changed which half is the standby)."""
        self._streak = 0


# --- standby grace ---------------------------------------------------------------------------


class StandbySignal(enum.Enum):
    """One tick's raw standby input (controller.md §5.3)."""

    AVAILABLE = "available"
    """The standby is there and serving (probe: at least one row)."""
    UNAVAILABLE = "unavailable"
    """It is known not to be serving (probe: zero connected standbys)."""
    UNRESOLVED = "unresolved"
    """The pair could not be resolved (the replica Cluster is not found)."""
    UNKNOWN = "unknown"
    """No determination this tick (the probe failed)."""


REASON_REACHABLE = "StandbyReachable"
REASON_UNREACHABLE = "StandbyUnreachable"
REASON_ABSENT = "StandbyAbsent"


class StandbyDetermination(msgspec.Struct, frozen=True, kw_only=True):
    """What to write to status. ``known=False``: write nothing (keep the prior condition).
    ``reason`` is the ``StandbyAvailable`` condition reason."""

    known: bool
    available: bool = False
    gone: bool = False
    replica_cluster: str = ""
    reason: str = ""


NO_DETERMINATION = StandbyDetermination(known=False)


def signal_from_posture(posture: StandbyPosture | None) -> tuple[StandbySignal, str]:
    """The two-region probe rule of controller.md §5.2: no posture (probe error) → UNKNOWN,
    a standby present → AVAILABLE with its application name, none → UNAVAILABLE."""
    if posture is None:
        return StandbySignal.UNKNOWN, ""
    if posture.standby_present:
        return StandbySignal.AVAILABLE, posture.app_name
    return StandbySignal.UNAVAILABLE, ""


class GraceMemory(msgspec.Struct, frozen=True, kw_only=True):
    """What the grace rule remembers between ticks.

    ``seen_replica``: the last replica name seen (``""``: none yet). ``episode_start``: the
    monotonic instant the current unavailable episode started (``None``: no episode).
    ``grace_served``: the current episode's grace counts as served already (restart seeding
    over a status that says ``standbyAvailable: false``)."""

    seen_replica: str = ""
    episode_start: float | None = None
    grace_served: bool = False

    @classmethod
    def from_status(
        cls, *, standby_replica_cluster: str | None, standby_available: bool | None
    ) -> GraceMemory:
        """Restart seeding (controller.md §5.3): remember ``status.standbyReplicaCluster``;
        when status already says ``standbyAvailable: false`` the grace counts as served (a
        restart never turns a degraded CR green); otherwise a fresh window starts with the
        next episode."""
        seen = standby_replica_cluster or ""
        return cls(seen_replica=seen, grace_served=bool(seen) and standby_available is False)


def fold_standby(
    memory: GraceMemory,
    signal: StandbySignal,
    replica_cluster: str = "",
    *,
    now: float,
    grace_seconds: float,
) -> tuple[GraceMemory, StandbyDetermination]:
    """Fold one tick's ``signal`` (observed at monotonic instant ``now``) into a
    determination, per controller.md §5.3:

    * AVAILABLE: passed through at once; the name is remembered; the episode ends.
    * UNAVAILABLE: with ``grace_seconds == 0`` passed through at once; otherwise the episode
      starts (if not running) and the result is "no determination" until ``grace_seconds``
      have passed since its start, then known / unavailable / not gone.
    * UNRESOLVED: never a determination while no replica was ever seen (provisioning may be
      in flight); once one was, the same episode clock, then known / unavailable / gone with
      the remembered name (reason ``StandbyAbsent``).
    * UNKNOWN (nothing could be read): never a determination, never a degrade; the episode
      clock is neither started, stopped nor reset (no evidence either way).

    Pure: never reads a clock."""
    if signal is StandbySignal.UNKNOWN:
        return memory, NO_DETERMINATION
    if signal is StandbySignal.AVAILABLE:
        seen = replica_cluster or memory.seen_replica
        return GraceMemory(seen_replica=seen), StandbyDetermination(
            known=True, available=True, replica_cluster=seen, reason=REASON_REACHABLE
        )
    gone = signal is StandbySignal.UNRESOLVED
    if gone and not memory.seen_replica:
        return memory, NO_DETERMINATION
    name = replica_cluster or memory.seen_replica
    if grace_seconds > 0 and not memory.grace_served:
        start = memory.episode_start if memory.episode_start is not None else now
        memory = msgspec.structs.replace(memory, episode_start=start)
        if now - start < grace_seconds:
            return memory, NO_DETERMINATION
    return memory, StandbyDetermination(
        known=True,
        available=False,
        gone=gone,
        replica_cluster=name,
        reason=REASON_ABSENT if gone else REASON_UNREACHABLE,
    )


class StandbyGrace:
    """:func:`fold_standby` on an injected clock (``clock.monotonic()``), with its memory
    kept here between calls."""

    def __init__(
        self,
        *,
        clock: Clock,
        grace_seconds: float = 30.0,
        seen_replica: str = "",
        grace_served: bool = False,
    ) -> None:
        self._clock = clock
        self.grace_seconds = grace_seconds
        self._memory = GraceMemory(seen_replica=seen_replica, grace_served=grace_served)

    @classmethod
    def from_status(
        cls,
        *,
        clock: Clock,
        grace_seconds: float,
        standby_replica_cluster: str | None,
        standby_available: bool | None,
    ) -> StandbyGrace:
        """Restart seeding, as :meth:`GraceMemory.from_status`."""
        memory = GraceMemory.from_status(
            standby_replica_cluster=standby_replica_cluster, standby_available=standby_available
        )
        return cls(
            clock=clock,
            grace_seconds=grace_seconds,
            seen_replica=memory.seen_replica,
            grace_served=memory.grace_served,
        )

    @property
    def seen_replica(self) -> str:
        return self._memory.seen_replica

    def observe(self, signal: StandbySignal, replica_cluster: str = "") -> StandbyDetermination:
        """Fold one tick's signal into a determination (see :func:`fold_standby`)."""
        self._memory, verdict = fold_standby(
            self._memory,
            signal,
            replica_cluster,
            now=self._clock.monotonic(),
            grace_seconds=self.grace_seconds,
        )
        return verdict
