"""Every Prometheus metric of the project, defined once, on the project's own registry.

Names follow the Prometheus conventions: ``continuum_`` prefix, base units (seconds), counters
end in ``_total``. Other modules never touch the metric objects directly; they call the small
helpers below (``observe_step``, ``set_lease_held``, ...), which are cheap (a dict lookup and
a lock-free add) and never raise for valid arguments. Label values are bounded: a CR key
(``namespace/name``), a step name, a result word, an HTTP route template — never a raw path,
a token or free text.

Actor mailbox depth and restarts are not pushed by anyone: :func:`watch_actors` registers a
collector that reads the supervisor registry's statistics at scrape time.

The metrics listener (``CONTINUUM_METRICS_ADDR``) serves :data:`REGISTRY` only, so the
process's default ``prometheus_client`` registry (and whatever libraries put there) never
leaks into the project's metric set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""The project's registry: what the metrics endpoint serves."""

_FAST_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STEP_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_SWITCHOVER_BUCKETS: Final = (1.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# --- lease -----------------------------------------------------------------------------------

LEASE_RENEW_DURATION: Final = Histogram(
    "continuum_lease_renew_duration_seconds",
    "Latency of lease renewals at the witness, by result (ok, error).",
    ["result"],
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)

# --- switchover, dry-run, health --------------------------------------------------------------

SWITCHOVERS: Final = Counter(
    "continuum_switchovers_total",
    "Switchovers that ended, by result (succeeded, failed, rolled-back).",
    ["result"],
    registry=REGISTRY,
)
SWITCHOVER_DURATION: Final = Histogram(
    "continuum_switchover_duration_seconds",
    "Wall time of a switchover from its first step to its end, by result.",
    ["result"],
    buckets=_SWITCHOVER_BUCKETS,
    registry=REGISTRY,
)
STEP_DURATION: Final = Histogram(
    "continuum_switchover_step_duration_seconds",
    "Duration of one switchover step's action, by step name.",
    ["step"],
    buckets=_STEP_BUCKETS,
    registry=REGISTRY,
)
DRYRUNS: Final = Counter(
    "continuum_dryrun_runs_total",
    "DryRun evaluations, by outcome (clear: no blockers; blocked).",
    ["outcome"],
    registry=REGISTRY,
)
HEALTH_RUNS: Final = Counter(
    "continuum_health_runs_total",
    "Post-switchover health runs, by verdict (healthy, unhealthy, unknown).",
    ["verdict"],
    registry=REGISTRY,
)

# --- audit -----------------------------------------------------------------------------------

AUDIT_PUBLISH_FAILURES: Final = Counter(
    "continuum_audit_publish_failures_total",
    "Failed attempts to publish an audit event to JetStream (each retry counts).",
    registry=REGISTRY,
)
AUDIT_STORED: Final = Counter(
    "continuum_audit_stored_total",
    "Audit events JetStream acknowledged as stored (duplicates of a stored one included).",
    registry=REGISTRY,
)
AUDIT_DUPLICATES: Final = Counter(
    "continuum_audit_duplicates_total",
    "Publishes JetStream acknowledged as duplicates of an already stored event (Nats-Msg-Id).",
    registry=REGISTRY,
)
AUDIT_COALESCED: Final = Counter(
    "continuum_audit_coalesced_total",
    "continuum-reconcile-success heartbeats not accepted because the outbox was full (the "
    "only type that may be coalesced; a later heartbeat carries the same news).",
    registry=REGISTRY,
)
AUDIT_DROPPED: Final = Counter(
    "continuum_audit_dropped_total",
    "Accepted audit events given up without being stored: only at the stop of a process "
    "that has no durable outbox store. Any other value is a bug.",
    registry=REGISTRY,
)

# --- HTTP API --------------------------------------------------------------------------------

API_REQUESTS: Final = Counter(
    "continuum_api_requests_total",
    "HTTP API requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
API_REQUEST_DURATION: Final = Histogram(
    "continuum_api_request_duration_seconds",
    "HTTP API request duration, by route template.",
    ["route"],
    buckets=_FAST_BUCKETS,
    registry=REGISTRY,
)
API_DENIED: Final = Counter(
    "continuum_api_denied_total",
    "HTTP API requests refused by the auth guard, by reason "
    "(missing-bearer, wrong-bearer, owner-tier).",
    ["reason"],
    registry=REGISTRY,
)


CONVERGE_ACTIONS: Final = Counter(
    "continuum_converge_actions_total",
    "Actions the acting writer took to converge the world to the lease, by action and outcome.",
    ["action", "outcome"],
    registry=REGISTRY,
)


# --- helpers other modules call ---------------------------------------------------------------


def set_lease_held(continuum: str, held: bool) -> None:
    """Record whether this instance holds the lease of ``continuum`` (``namespace/name``)."""
    _PER_CR.lease_held[continuum] = held


def forget_continuum(continuum: str) -> None:
    """Drop the per-CR series of a deleted Continuum (no error if it had none)."""
    _PER_CR.lease_held.pop(continuum, None)
    _PER_CR.world.pop(continuum, None)
    _PER_CR.dns_fallback.pop(continuum, None)


WORLD_KINDS: Final = (
    "WriterMismatch",
    "WriterFenced",
    "DnsMismatch",
    "RouteDrained",
    "RouteSplit",
    "Unobserved",
)


def set_world(continuum: str, kinds: set[str]) -> None:
    """Record which kinds of disagreement with the lease holder ``continuum`` shows now."""
    _PER_CR.world[continuum] = frozenset(kinds) if kinds else _NO_KINDS


_NO_KINDS: Final[frozenset[str]] = frozenset()


class PerContinuumCollector(Collector):
    """The per-CR gauges, kept as plain values and turned into samples at scrape time:

    * ``continuum_lease_held{continuum}`` — 1 while this instance holds the witness lease of
      the Continuum, else 0;
    * ``continuum_world_disagrees{continuum,kind}`` — 1 while this instance observes the world
      disagreeing with the lease holder, by kind (one sample per kind of
      :data:`WORLD_KINDS`), else 0;
    * ``continuum_dns_serving_fallback{continuum}`` — 1 while the authoritative DNS answers
      another region's addresses although the records name the lease holder first (its
      health URL fails: ``ifurlup``'s fallback), else 0 (a series once it was observed).

    The same series a labelled ``Gauge`` would expose, without a metric object per CR and
    label value (about 4 KiB per CR, and a lock and six label look-ups per observation)."""

    def __init__(self) -> None:
        self.lease_held: dict[str, bool] = {}
        self.world: dict[str, frozenset[str]] = {}
        self.dns_fallback: dict[str, bool] = {}

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        held, disagrees, fallback = self._families()
        for key, value in list(self.lease_held.items()):
            held.add_metric([key], 1.0 if value else 0.0)
        for key, kinds in list(self.world.items()):
            for kind in WORLD_KINDS:
                disagrees.add_metric([key, kind], 1.0 if kind in kinds else 0.0)
        for key, value in list(self.dns_fallback.items()):
            fallback.add_metric([key], 1.0 if value else 0.0)
        yield held
        yield disagrees
        yield fallback

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        held = GaugeMetricFamily(
            "continuum_lease_held",
            "1 while this instance holds the witness lease of the Continuum, else 0.",
            labels=["continuum"],
        )
        disagrees = GaugeMetricFamily(
            "continuum_world_disagrees",
            "1 while this instance observes the world disagreeing with the lease holder, by "
            "kind (WriterMismatch, WriterFenced, DnsMismatch, RouteDrained, RouteSplit); "
            "0 otherwise.",
            labels=["continuum", "kind"],
        )
        fallback = GaugeMetricFamily(
            "continuum_dns_serving_fallback",
            "1 while the authoritative DNS answers another region's addresses although the "
            "records name the lease holder first (its health URL fails: ifurlup's fallback); "
            "0 otherwise.",
            labels=["continuum"],
        )
        return held, disagrees, fallback


_PER_CR: Final = PerContinuumCollector()
REGISTRY.register(_PER_CR)


def set_dns_fallback(continuum: str, *, falling_back: bool) -> None:
    """Record whether ``continuum``'s hostnames are served the standby group now."""
    _PER_CR.dns_fallback[continuum] = falling_back


def count_converge(action: str, outcome: str) -> None:
    """One convergence action (``promote-holder``, ``restore-dns``…) ended with ``outcome``
    (``done`` or ``failed``)."""
    CONVERGE_ACTIONS.labels(action, outcome).inc()


def observe_renew(seconds: float, *, ok: bool) -> None:
    """One lease renewal took ``seconds`` and succeeded (``ok``) or failed."""
    LEASE_RENEW_DURATION.labels("ok" if ok else "error").observe(seconds)


def observe_switchover(seconds: float, *, result: str) -> None:
    """A switchover ended with ``result`` (``succeeded``, ``failed``, ``rolled-back``)."""
    SWITCHOVERS.labels(result).inc()
    SWITCHOVER_DURATION.labels(result).observe(seconds)


def observe_step(step: str, seconds: float) -> None:
    """One step's action (``step`` is its name, e.g. ``flip-dns``) took ``seconds``."""
    STEP_DURATION.labels(step).observe(seconds)


def count_dryrun(*, blocked: bool) -> None:
    """A DryRun was evaluated; ``blocked`` when its report has blockers."""
    DRYRUNS.labels("blocked" if blocked else "clear").inc()


def count_health_run(verdict: str) -> None:
    """A health run ended with ``verdict`` (``healthy``, ``unhealthy``, ``unknown``)."""
    HEALTH_RUNS.labels(verdict).inc()


def count_audit_stored(*, duplicate: bool) -> None:
    """JetStream acknowledged one event as stored (``duplicate``: it already was)."""
    AUDIT_STORED.inc()
    if duplicate:
        AUDIT_DUPLICATES.inc()


def count_audit_coalesced() -> None:
    """A ``continuum-reconcile-success`` heartbeat was coalesced (outbox full)."""
    AUDIT_COALESCED.inc()


def count_audit_publish_failure() -> None:
    """One publish attempt to JetStream failed."""
    AUDIT_PUBLISH_FAILURES.inc()


def count_audit_dropped(events: int = 1) -> None:
    """``events`` accepted audit events were given up without being stored."""
    AUDIT_DROPPED.inc(events)


def observe_api_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """The API answered ``method route`` (a route template) with ``status`` in ``seconds``."""
    API_REQUESTS.labels(route, method, str(status)).inc()
    API_REQUEST_DURATION.labels(route).observe(seconds)


def count_api_denied(reason: str) -> None:
    """The auth guard refused a request for ``reason``."""
    API_DENIED.labels(reason).inc()


# --- actors, collected at scrape time ------------------------------------------------------------


class ActorStats(Protocol):
    """What the collector reads from an actor's statistics snapshot."""

    @property
    def mailbox_depth(self) -> int: ...

    @property
    def restarts(self) -> int: ...


ActorSnapshot = Callable[[], Mapping[str, ActorStats]]


class ActorCollector(Collector):
    """Reads ``snapshot()`` (key → statistics) on each scrape and reports, per actor key,
    ``continuum_actor_mailbox_depth`` and ``continuum_actor_restarts_total``."""

    def __init__(self, snapshot: ActorSnapshot) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        depth, restarts = self._families()
        for key, stats in self._snapshot().items():
            depth.add_metric([key], stats.mailbox_depth)
            restarts.add_metric([key], stats.restarts)
        yield depth
        yield restarts

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
        depth = GaugeMetricFamily(
            "continuum_actor_mailbox_depth",
            "Messages waiting in an actor's mailbox, by actor key.",
            labels=["actor"],
        )
        restarts = CounterMetricFamily(
            "continuum_actor_restarts",
            "Times the supervisor restarted an actor, by actor key.",
            labels=["actor"],
        )
        return depth, restarts


_actor_collector: ActorCollector | None = None


def watch_actors(snapshot: ActorSnapshot) -> None:
    """Report the actors of ``snapshot`` (e.g. ``supervisor.registry.snapshot``) from now on.

    Replaces a previously watched snapshot (one supervisor per process).
    """
    global _actor_collector
    if _actor_collector is not None:
        REGISTRY.unregister(_actor_collector)
    _actor_collector = ActorCollector(snapshot)
    REGISTRY.register(_actor_collector)


def unwatch_actors() -> None:
    """Stop reporting actors (no error when none are watched)."""
    global _actor_collector
    if _actor_collector is not None:
        REGISTRY.unregister(_actor_collector)
        _actor_collector = None


class AuditBacklog(Protocol):
    """What the audit collector reads (``AuditPublisherStatus``)."""

    @property
    def outbox(self) -> int: ...

    @property
    def oldest_pending_seconds(self) -> float: ...

    @property
    def full(self) -> bool: ...

    @property
    def blocked_emitters(self) -> int: ...

    @property
    def store_failing(self) -> bool: ...


class AuditCollector(Collector):
    """Reads the audit publisher's status on each scrape: the backlog as it is now, not as
    somebody last pushed it."""

    def __init__(self, status: Callable[[], AuditBacklog]) -> None:
        self._status = status

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        status = self._status()
        values = (
            status.outbox,
            status.oldest_pending_seconds,
            int(status.full),
            status.blocked_emitters,
            int(status.store_failing),
        )
        for family, value in zip(families, values, strict=True):
            family.add_metric([], value)
            yield family

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(
                "continuum_audit_outbox_depth",
                "Audit events accepted (durable) and not yet stored in JetStream.",
            ),
            GaugeMetricFamily(
                "continuum_audit_oldest_pending_seconds",
                "Age of the oldest audit event accepted and not yet stored (0 when none).",
            ),
            GaugeMetricFamily(
                "continuum_audit_outbox_full",
                "1 while the outbox is at its limit and emitters wait (back-pressure).",
            ),
            GaugeMetricFamily(
                "continuum_audit_blocked_emitters",
                "Callers waiting for room in the audit outbox.",
            ),
            GaugeMetricFamily(
                "continuum_audit_outbox_store_failing",
                "1 while the durable outbox store (ConfigMaps) refuses writes or reads.",
            ),
        )


_audit_collector: AuditCollector | None = None


def watch_audit(status: Callable[[], AuditBacklog] | None) -> None:
    """Report the audit backlog of ``status`` from now on (``None``: stop reporting)."""
    global _audit_collector
    if _audit_collector is not None:
        REGISTRY.unregister(_audit_collector)
        _audit_collector = None
    if status is not None:
        _audit_collector = AuditCollector(status)
        REGISTRY.register(_audit_collector)


def exposition() -> str:
    """The current Prometheus text exposition of :data:`REGISTRY` (what a scrape returns)."""
    return generate_latest(REGISTRY).decode("utf-8")
