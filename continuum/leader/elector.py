"""Leader election among the controller's replicas in one region, on a ``coordination.k8s.io/v1``
Lease (the protocol of client-go's ``leaderelection`` package).

Only the leader runs actors; every replica serves ``/healthz``. Use::

    elector = LeaderElector.from_settings(settings, api, clock=clock)
    try:
        async with elector.leading():     # returns once this replica leads
            await run_actors()            # cancelled at once if leadership is lost
    except LeadershipLost:
        return LEADERSHIP_LOST_EXIT_CODE  # exit; Kubernetes restarts the pod as a candidate

Safety rests on local monotonic time only, never on another machine's wall clock:

* a candidate counts a Lease held by someone else as expired only once the Lease's content
  has stayed unchanged for ``leaseDurationSeconds`` on *its own* monotonic clock, measured
  from the moment it first saw that content (``renewTime`` is written for humans, not read);
* the leader steps down once ``renew_deadline`` (< lease duration) has passed since it
  *sent* its last successful renew, so it stops acting before any candidate can take over;
  every renew call is bounded by the time left until that deadline (injected clock);
* every write is a compare-and-set through ``resourceVersion`` (create for an absent Lease):
  of two candidates racing, the API server lets exactly one win (409 for the other).

On a clean exit the leader releases the Lease (``holderIdentity`` emptied, duration 1 s,
like client-go's ``ReleaseOnCancel``), so a waiting candidate leads on its next attempt.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import anyio
from kubernetes_asyncio import client as k8s

from continuum.config import Settings
from continuum.errors import ContinuumError
from continuum.leader.lease_api import (
    FALLBACK_NAMESPACE,
    NETWORK_ERRORS,
    LeaseApi,
    lease_namespace,
    make_identity,
)
from continuum.logs import get_logger
from continuum.messages.coordination import LeaseObject, LeaseRecord, micro_time
from continuum.ports import Clock
from continuum.switchover.timeouts import with_timeout

__all__ = [
    "FALLBACK_NAMESPACE",
    "LEADERSHIP_LOST_EXIT_CODE",
    "LeaderElector",
    "LeaderStatistics",
    "LeadershipLost",
    "lease_namespace",
    "make_identity",
    "run_as_leader",
]

log = get_logger("continuum.leader")

LEADERSHIP_LOST_EXIT_CODE: Final = 3
"""Exit code of a process that lost leadership after having held it."""

Outcome = Literal["leading", "held-by-other", "conflict", "unavailable"]


class LeadershipLost(ContinuumError):
    """This replica led, and no longer does: a renew did not succeed within the renew
    deadline, or another holder was found in the Lease. The process must stop acting."""


@dataclass(frozen=True, kw_only=True)
class LeaderStatistics:
    """A snapshot of one elector, for metrics, readiness and tests.

    ``observed_at`` is the monotonic time at which the current Lease content was first seen
    (the start of its expiry countdown); ``last_renew`` the send time of the last successful
    write of ours (``None`` before the first).
    """

    is_leader: bool
    attempts: int
    in_flight: bool
    failures: int
    observed_holder: str
    observed_at: float | None
    last_renew: float | None


class LeaderElector:
    """One candidate for the Lease ``namespace/name``, identified by ``identity``.

    Requires ``0 < retry_period < renew_deadline < lease_duration`` (``ValueError``
    otherwise); ``retry_period`` defaults to a third of the lease duration (at most half
    the renew deadline, so a leader always gets two tries at a renew). A candidate
    tries to acquire every ``retry_period``; a leader renews every ``retry_period`` and
    retries a failed renew every ``retry_period / 2`` until its renew deadline.
    ``request_timeout`` bounds each HTTP request in real seconds (a network guard; the
    election's own bounds run on ``clock``). ``on_change(is_leader)`` is called on every
    transition (it must not raise or block).
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        clock: Clock,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float | None = None,
        release_on_cancel: bool = True,
        request_timeout: float | None = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        retry = (
            min(lease_duration / 3, renew_deadline / 2) if retry_period is None else retry_period
        )
        if not 0 < retry < renew_deadline < lease_duration:
            raise ValueError(
                "need 0 < retry_period < renew_deadline < lease_duration, got "
                f"{retry:g} / {renew_deadline:g} / {lease_duration:g}"
            )
        if not identity:
            raise ValueError("identity must not be empty")
        self._lease = LeaseApi(
            api,
            name=name,
            namespace=namespace,
            request_timeout=renew_deadline if request_timeout is None else request_timeout,
        )
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self._clock = clock
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry
        self.release_on_cancel = release_on_cancel
        self._on_change = on_change
        self._leading = False
        self._observed: LeaseRecord | None = None
        self._observed_at: float | None = None
        self._last_renew: float | None = None
        self._attempts = 0
        self._failures = 0
        self._in_flight = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        api: k8s.ApiClient,
        *,
        clock: Clock,
        identity: str | None = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> LeaderElector:
        """An elector for ``settings.leader_lease_*`` (namespace per :func:`lease_namespace`;
        identity per :func:`make_identity` unless given)."""
        return cls(
            api,
            name=settings.leader_lease_name,
            namespace=lease_namespace(settings.leader_lease_namespace),
            identity=identity or make_identity(),
            clock=clock,
            lease_duration=settings.leader_lease_seconds,
            renew_deadline=settings.leader_renew_deadline,
            on_change=on_change,
        )

    # --- state -------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """True from the successful acquire until the step-down (loss or release)."""
        return self._leading

    def statistics(self) -> LeaderStatistics:
        return LeaderStatistics(
            is_leader=self._leading,
            attempts=self._attempts,
            in_flight=self._in_flight > 0,
            failures=self._failures,
            observed_holder=(self._observed.holder_identity or "") if self._observed else "",
            observed_at=self._observed_at,
            last_renew=self._last_renew,
        )

    def _set_leader(self, leading: bool, event: str, **fields: Any) -> None:
        was, self._leading = self._leading, leading
        if event == "leader_lost":
            log.error(event, **self._context(), **fields)
        else:
            log.info(event, **self._context(), **fields)
        if was != leading and self._on_change is not None:
            self._on_change(leading)

    def _context(self) -> dict[str, Any]:
        return {"lease": f"{self.namespace}/{self.name}", "identity": self.identity}

    # --- one attempt -------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One acquire-or-renew round trip (unbounded in time; the loops bound it): True
        when this candidate holds the Lease afterwards. Never raises for API or network
        failures (they count as False). Does not change :attr:`is_leader`."""
        return await self._attempt() == "leading"

    async def _attempt(self) -> Outcome:
        self._attempts += 1
        try:
            with self._busy():
                outcome = await self._attempt_once()
        except NETWORK_ERRORS as exc:
            log.warning("leader_api_error", **self._context(), error=f"{type(exc).__name__}: {exc}")
            outcome = "unavailable"
        if outcome != "leading":
            self._failures += 1
        return outcome

    async def _attempt_once(self) -> Outcome:
        status, lease = await self._lease.read()
        now = self._clock.now()
        if status == 404:
            status, lease = await self._lease.create(self._claim(None, now))
            return self._written(status, lease, verb="create")
        if lease is None:
            log.warning("leader_read_failed", **self._context(), status=status)
            return "unavailable"
        self._observe(lease.spec)
        holder = lease.spec.holder_identity or ""
        if holder and holder != self.identity and not self._observed_expired(lease.spec):
            return "held-by-other"
        lease.spec = self._claim(lease.spec, now)
        status, lease = await self._lease.replace(lease)
        return self._written(status, lease, verb="update")

    def _claim(self, current: LeaseRecord | None, now: datetime) -> LeaseRecord:
        """The record this candidate writes to hold the Lease from ``now``."""
        ours = current is not None and current.holder_identity == self.identity
        transitions = (current.lease_transitions or 0) if current is not None else 0
        if current is not None and not ours:
            transitions += 1
        return LeaseRecord(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.lease_duration),
            acquire_time=current.acquire_time if ours and current else micro_time(now),
            renew_time=micro_time(now),
            lease_transitions=transitions,
        )

    def _written(self, status: int, lease: LeaseObject | None, *, verb: str) -> Outcome:
        if lease is not None:
            self._observe(lease.spec)
            return "leading"
        if status == 409:
            log.info("leader_write_conflict", **self._context(), verb=verb)
            return "conflict"
        log.warning("leader_write_failed", **self._context(), verb=verb, status=status)
        return "unavailable"

    def _observe(self, record: LeaseRecord) -> None:
        """Restart the expiry countdown whenever the Lease content changes."""
        if record != self._observed:
            previous = (self._observed.holder_identity or "") if self._observed else None
            self._observed = record
            self._observed_at = self._clock.monotonic()
            holder = record.holder_identity or ""
            if previous != holder and holder != self.identity:
                log.info("leader_observed", **self._context(), holder=holder)

    def _observed_expired(self, record: LeaseRecord) -> bool:
        duration = record.lease_duration_seconds or self.lease_duration
        assert self._observed_at is not None  # set by _observe just before
        return self._clock.monotonic() >= self._observed_at + duration

    async def _bounded(self, deadline: float) -> Outcome | Literal["timeout"]:
        """One attempt, cancelled once the clock reaches ``deadline``."""
        try:
            with self._busy():
                return await with_timeout(
                    self._clock, max(0.0, deadline - self._clock.monotonic()), self._attempt
                )
        except TimeoutError:
            return "timeout"

    @contextmanager
    def _busy(self) -> Iterator[None]:
        """Marks a round trip (and its timeout watchdog) as in flight, for statistics."""
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    # --- the loops ---------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this candidate leads (:attr:`is_leader` is then True). Tries every
        ``retry_period``, each try bounded by ``renew_deadline``; cancellable."""
        log.info("leader_election_started", **self._context(), lease_seconds=self.lease_duration)
        while True:
            start = self._clock.monotonic()
            outcome = await self._bounded(start + self.renew_deadline)
            if outcome == "leading":
                self._last_renew = start
                self._set_leader(True, "leader_acquired", transitions=self._transitions())
                return
            await self._clock.sleep_until(start + self.retry_period)

    async def keep_renewing(self) -> str:
        """Renew while leading; return the reason once leadership is lost (it then is:
        :attr:`is_leader` is False). Never returns while renewals succeed."""
        assert self._last_renew is not None, "keep_renewing() needs acquire() first"
        while True:
            await self._clock.sleep_until(self._last_renew + self.retry_period)
            deadline = self._last_renew + self.renew_deadline
            while True:
                start = self._clock.monotonic()
                if start >= deadline:
                    return self._lose("renew-deadline-passed")
                outcome = await self._bounded(deadline)
                if outcome == "leading":
                    self._last_renew = start
                    log.debug("leader_renewed", **self._context())
                    break
                if outcome == "held-by-other":
                    return self._lose("held-by-other")
                log.warning(
                    "leader_renew_failed",
                    **self._context(),
                    outcome=outcome,
                    seconds_left=round(deadline - self._clock.monotonic(), 3),
                )
                await self._clock.sleep_until(
                    min(self._clock.monotonic() + self.retry_period / 2, deadline)
                )

    def _lose(self, reason: str) -> str:
        since = self._clock.monotonic() - (self._last_renew or 0.0)
        self._set_leader(
            False,
            "leader_lost",
            reason=reason,
            holder=(self._observed.holder_identity or "") if self._observed else "",
            seconds_since_renew=round(since, 3),
        )
        return reason

    def _transitions(self) -> int:
        return (self._observed.lease_transitions or 0) if self._observed else 0

    async def release(self) -> bool:
        """Give the Lease up if this candidate still holds it: ``holderIdentity`` emptied and
        duration 1 s, by compare-and-set, so a candidate leads on its next attempt. Steps
        down first. Bounded by ``renew_deadline``; True when released. Never raises for API
        or network failures (the Lease then simply expires)."""
        if self._leading:
            self._set_leader(False, "leader_stepping_down")
        try:
            with self._busy():
                return await with_timeout(self._clock, self.renew_deadline, self._release_once)
        except (TimeoutError, *NETWORK_ERRORS) as exc:
            log.warning("leader_release_failed", **self._context(), error=f"{type(exc).__name__}")
            return False

    async def _release_once(self) -> bool:
        status, lease = await self._lease.read()
        if lease is None or lease.spec.holder_identity != self.identity:
            return False
        now = micro_time(self._clock.now())
        lease.spec = LeaseRecord(
            holder_identity="",
            lease_duration_seconds=1,
            acquire_time=now,
            renew_time=now,
            lease_transitions=lease.spec.lease_transitions,
        )
        status, _ = await self._lease.replace(lease)
        event = "leader_released" if status == 200 else "leader_release_refused"
        log.info(event, **self._context(), status=status)
        return status == 200

    @asynccontextmanager
    async def leading(self) -> AsyncIterator[None]:
        """Enter once this candidate leads; the block runs only while it leads.

        Leadership lost while inside: the block is cancelled at once and the ``async with``
        raises :class:`LeadershipLost` (also when the block ended on its own meanwhile, or
        raised: that exception is then its ``__cause__``); a lost Lease is never released.
        Leaving the block otherwise (returning, raising, or being cancelled) stops renewing
        and, with ``release_on_cancel``, releases the Lease (shielded, bounded by
        ``renew_deadline``) before the exit continues; the block's exception propagates.
        """
        await self.acquire()
        reason: list[str] = []
        error: Exception | None = None
        body = anyio.CancelScope()

        async def renew_until_lost() -> None:
            reason.append(await self.keep_renewing())
            body.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(renew_until_lost)
                try:
                    with body:
                        yield
                except Exception as exc:
                    # Re-raised below, outside the task group, so it is not wrapped in a group.
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        finally:
            if not reason:
                with anyio.CancelScope(shield=True):
                    if self.release_on_cancel:
                        await self.release()
                    elif self._leading:
                        self._set_leader(False, "leader_stepping_down", released=False)
        if reason:
            raise LeadershipLost(f"{self.namespace}/{self.name}: {reason[0]}") from error
        if error is not None:
            raise error


async def run_as_leader(elector: LeaderElector, main: Callable[[], Awaitable[int]]) -> int:
    """Run ``main()`` only while ``elector`` leads and return its exit code, or
    :data:`LEADERSHIP_LOST_EXIT_CODE` when leadership was lost (``main`` was cancelled).
    Waits (cancellably) to be elected first."""
    try:
        async with elector.leading():
            return await main()
    except LeadershipLost:
        return LEADERSHIP_LOST_EXIT_CODE
