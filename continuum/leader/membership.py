"""Membership of one replica in its region's shard group, and the shard view the CR watch
follows (``docs/sharding.md``).

Each replica keeps one Lease of its own (:mod:`continuum.leader.member_leases`), renewed every
``retry_period``, whose annotation publishes the member set it acts on (its *view*). Every
round lists the group's Leases, and between renewals a round only lists them, every
``read_period`` (a quarter of the retry period by default). A peer is *live* while its
Lease is fresh: a candidate counts a peer's Lease as expired only once its content
(``resourceVersion``) has stayed unchanged for the Lease's ``leaseDurationSeconds`` on *its
own* monotonic clock, measured from the moment it first saw that content (the rule of
:mod:`continuum.leader.elector`); a deleted Lease is gone at once (its owner stopped its
actors before deleting it).

The rule that keeps a CR on at most one replica of the region:

1. a replica runs the actor of key ``k`` only while (a) it owns ``k`` (rendezvous hashing,
   :mod:`continuum.leader.assignment`) under the view it last *published* and under the view
   it wants to publish next, and (b) no live peer's published view gives ``k`` to that peer.
   The peers' views it checks were read *after* its own publication (publish, then read: of
   two replicas that both want ``k``, the later reader sees the other's claim);
2. before publishing a view in which it no longer owns ``k``, a replica stops ``k``'s actor
   (it awaits the watch's rebalance first);
3. a replica that could not renew its Lease for ``renew_deadline`` (< lease duration) is
   *fenced*: it owns nothing and stops every actor before any peer can count its Lease as
   expired. It keeps trying, and rejoins through the same rule once a renewal succeeds.

The renewals never wait for the actors (``docs/decisions.md`` #23): the followers (the CR
watch's rebalance) run in a task of their own, and a view that drops keys is published only
once a rebalance that began under it has finished (until then the renewals keep publishing
the previous view, which still claims the keys being stopped). A round that starts late or
takes long reports *pressure* (``on_pressure(True)``; the controller slows actor start-ups
to a trickle while it lasts). A fenced replica waits a growing, bounded back-off before it
tries to rejoin.

Stopping an actor releases nothing (the witness lease stays with the region; the next
owner's actor renews it). Raises nothing out of its loop for API or network failures: they
only delay renewals, and past the renew deadline fence the replica.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from kubernetes_asyncio import client as k8s

from continuum.leader.assignment import Assignment
from continuum.leader.lease_api import NETWORK_ERRORS
from continuum.leader.member_leases import (
    MemberLeases,
    lease_name_for,
    published_api_url,
    published_view,
)
from continuum.leader.request_lane import RequestLane
from continuum.logs import get_logger
from continuum.messages.coordination import LeaseObject, LeaseRecord, micro_time
from continuum.ports import Clock
from continuum.switchover.timeouts import with_timeout

__all__ = ["Membership", "MembershipStatistics", "Peer"]

log = get_logger("continuum.shard")

T = TypeVar("T")


@dataclass
class Peer:
    """A peer's Lease as this replica last saw it."""

    identity: str
    resource_version: str
    observed_at: float
    duration: float
    view: Assignment
    lease_name: str = ""
    api_url: str = ""

    def live(self, now: float) -> bool:
        return now < self.observed_at + self.duration

    def claims(self, key: str) -> bool:
        return self.view.owns(self.identity, key)


@dataclass(frozen=True, kw_only=True)
class MembershipStatistics:
    """A snapshot for metrics, tests and benchmarks."""

    fenced: bool
    members: tuple[str, ...]
    published: tuple[str, ...]
    renewals: int
    failures: int
    fences: int
    last_renew: float | None
    in_flight: bool
    """A request is under way."""
    following: bool
    """The followers have a change to apply, or are applying one."""
    asleep: bool
    """The round loop sleeps on the clock until its next round and nothing has woken it (no
    round under way, none about to start)."""
    pressed: bool
    rejoin_backoff: float
    """The back-off the next rejoin waits after a fence (0: none pending)."""


class Membership:
    """One replica ``identity`` of the shard group ``group`` (Leases in ``namespace``).

    Requires ``0 < retry_period < renew_deadline < lease_duration`` (``ValueError``
    otherwise; ``retry_period`` defaults to ``min(lease_duration / 3, renew_deadline / 2)``).
    Use ``async with membership.joined():`` — it returns after the first round (Lease
    written or not) and, on exit, deletes this replica's Lease (bounded, shielded) so peers
    take its CRs over at once. The actors must be stopped before (the supervision tree stops
    the watch and the supervisor first).

    ``on_pressure(pressed)`` is called with ``True`` when a round's lateness plus its
    duration exceeds ``slack`` (default half the margin ``renew_deadline − retry_period``),
    and with ``False`` once a round's is within half of it. After a fence, renewals resume
    only after ``retry_period · 2^(n-1)`` (n: fences in a row, capped at ``rejoin_backoff_max``,
    default four lease durations); n resets once the replica has stayed joined for
    ``rejoin_backoff_max``.

    A peer's Lease left behind by a crash (its content unchanged for ``collect_after``,
    default ten lease durations, on this replica's clock) is deleted, one per round, on the
    condition that its ``resourceVersion`` is still the one seen: a container that restarts
    is a new member with a Lease of its own, so without this a crash-looping pod would leave
    Leases without bound. Never a live peer's, never one that changed since it was read.

    With a ``settle_period`` (default 0: none) a replica that has just joined owns nothing
    until its view of the members has stayed unchanged for that long (at most one lease
    duration after the join): replicas started together would otherwise each start the
    share of a smaller group and hand most of it on a few seconds later, and a lease handed
    over before its first renewal can lapse while the new owner's start-ups queue
    (``docs/decisions.md`` #32).

    ``api_url`` (optional) is published in the Lease so that peers can forward API requests
    for this replica's CRs (:meth:`peer_url_for`, :mod:`continuum.http.forwarding`).

    With a ``lane`` (:class:`continuum.leader.request_lane.RequestLane`) the Lease requests
    run on its thread and loop, so a round's duration no longer grows with this loop's
    iteration time (each request then needs this loop once, for its answer); everything else
    of the membership stays on this loop and its clock. Without one they run on this loop
    through ``api``.
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        group: str,
        namespace: str,
        identity: str,
        clock: Clock,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float | None = None,
        request_timeout: float | None = None,
        on_pressure: Callable[[bool], None] | None = None,
        slack: float | None = None,
        rejoin_backoff_max: float | None = None,
        lane: RequestLane | None = None,
        collect_after: float | None = None,
        api_url: str = "",
        read_period: float | None = None,
        settle_period: float = 0.0,
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
        self.identity = identity
        self.lease_name = lease_name_for(identity)
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.api_url = api_url
        self.collect_after = 10 * lease_duration if collect_after is None else collect_after
        if self.collect_after <= lease_duration:
            raise ValueError(
                f"need collect_after > lease_duration, got {self.collect_after:g} / "
                f"{lease_duration:g}"
            )
        self.retry_period = retry
        self.read_period = retry / 4 if read_period is None else read_period
        if not 0 < self.read_period <= retry:
            raise ValueError(
                f"need 0 < read_period <= retry_period, got {self.read_period:g} / {retry:g}"
            )
        if not 0 <= settle_period < lease_duration:
            raise ValueError(
                f"need 0 <= settle_period < lease_duration, got {settle_period:g} / "
                f"{lease_duration:g}"
            )
        self.settle_period = settle_period
        self._clock = clock
        self._leases = MemberLeases(
            api,
            group=group,
            namespace=namespace,
            request_timeout=renew_deadline if request_timeout is None else request_timeout,
            lane=lane,
        )
        self._followers: list[Callable[[], Awaitable[None]]] = []
        self._own: LeaseObject | None = None
        self._peers: dict[str, Peer] = {}
        self._desired = Assignment.of([identity])
        self._published: Assignment | None = None
        self._fenced = True
        self._last_renew: float | None = None
        self._last_read: float | None = None
        self._inputs: object = None
        """What owns() answered from when the followers were last told (see _owns_inputs)."""
        self._renewals = 0
        self._failures = 0
        self._fences = 0
        self._in_flight = 0
        self._on_pressure = on_pressure
        self._slack = (renew_deadline - retry) / 2 if slack is None else slack
        self._pressed = False
        self._backoff_max = 4 * lease_duration if rejoin_backoff_max is None else rejoin_backoff_max
        self._fences_in_a_row = 0
        self._fenced_at: float | None = None
        self._joined_at: float | None = None
        self._members_changed_at: float | None = None
        # The followers' side: a change of owns()' answers bumps _version when it may take
        # keys away (desired view, fence); _released is the version a finished rebalance
        # began under. A view is published only when the two agree.
        self._version = 0
        self._released = 0
        self._dirty: anyio.Event | None = None
        self._following = False
        self._sleep_scope: anyio.CancelScope | None = None

    # --- the shard view (continuum.ports.ShardView) ----------------------------------------

    def owns(self, key: str) -> bool:
        """See :class:`continuum.ports.ShardView` and rule 1 of the module docstring."""
        if self._fenced or self._published is None:
            return False
        if self._settling(self._clock.monotonic()):
            return False
        me = self.identity
        if not (self._published.owns(me, key) and self._desired.owns(me, key)):
            return False
        now = self._clock.monotonic()
        return not any(p.live(now) and p.claims(key) for p in self._peers.values())

    def _settle_end(self) -> float | None:
        """When owns() may first answer True after the last join (``None``: no settling):
        once the member set has stayed unchanged for ``settle_period`` since the join, and
        at the latest one lease duration after it."""
        if not self.settle_period or self._joined_at is None:
            return None
        changed = max(self._joined_at, self._members_changed_at or self._joined_at)
        return min(changed + self.settle_period, self._joined_at + self.lease_duration)

    def _settling(self, now: float) -> bool:
        end = self._settle_end()
        return end is not None and now < end

    def write_check(self) -> Callable[[], str | None]:
        """See :class:`continuum.ports.ShardView`. The renew deadline is compared with the
        clock at each call, so the gate shuts the instant it passes, even while a starved
        loop has not yet run the round that fences; the term is the number of fences so
        far."""
        term = self._fences

        def check() -> str | None:
            if self._fences != term:
                return f"shard member {self.identity} was fenced after this actor started"
            return self.write_refusal()

        return check

    def write_refusal(self) -> str | None:
        """Why no actor of this replica may write now (``None``: the membership is current):
        fenced, or past the renew deadline of its last renewal."""
        if self._fenced or self._last_renew is None:
            return f"shard member {self.identity} is fenced"
        if self._clock.monotonic() >= self._last_renew + self.renew_deadline:
            return (
                f"shard member {self.identity} has not renewed within its renew deadline "
                f"({self.renew_deadline:g} s)"
            )
        return None

    def peer_url_for(self, key: str) -> str | None:
        """The API URL of the live peer that claims ``key`` in its published view (the one
        that runs or is about to run its actor), for the API to forward a request to;
        ``None`` when this replica owns ``key``, when no live peer claims it, or when that
        peer published no URL."""
        if self.owns(key):
            return None
        now = self._clock.monotonic()
        for peer in self._peers.values():
            if peer.api_url and peer.live(now) and peer.claims(key):
                return peer.api_url
        return None

    def peer_urls(self) -> list[str]:
        """The API URLs the live peers published, sorted (for a region-wide listing)."""
        now = self._clock.monotonic()
        return sorted({p.api_url for p in self._peers.values() if p.api_url and p.live(now)})

    def follow(self, rebalance: Callable[[], Awaitable[None]]) -> None:
        """See :class:`continuum.ports.ShardView`."""
        self._followers.append(rebalance)

    def unfollow(self, rebalance: Callable[[], Awaitable[None]]) -> None:
        """Stop calling ``rebalance`` (a watch that stops)."""
        if rebalance in self._followers:
            self._followers.remove(rebalance)

    @property
    def fenced(self) -> bool:
        """True before the first renewal and whenever the renew deadline has passed."""
        return self._fenced

    def members(self) -> tuple[str, ...]:
        """The live members as this replica sees them (itself included), sorted."""
        return tuple(sorted(self._desired.members))

    def statistics(self) -> MembershipStatistics:
        return MembershipStatistics(
            fenced=self._fenced,
            members=self.members(),
            published=tuple(sorted(self._published.members)) if self._published else (),
            renewals=self._renewals,
            failures=self._failures,
            fences=self._fences,
            last_renew=self._last_renew,
            in_flight=self._in_flight > 0,
            following=self._following,
            asleep=self._sleep_scope is not None and not self._sleep_scope.cancel_called,
            pressed=self._pressed,
            rejoin_backoff=self._rejoin_backoff() if self._fenced and self._fences else 0.0,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @asynccontextmanager
    async def joined(self) -> AsyncIterator[Membership]:
        """Run the membership for the block (see the class docstring)."""
        log.info(
            "shard_membership_started",
            identity=self.identity,
            lease=f"{self._leases.namespace}/{self.lease_name}",
            group=self._leases.group,
            lease_seconds=self.lease_duration,
        )
        self._dirty = anyio.Event()
        next_round = await self._round(self._clock.monotonic())
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._loop, next_round)
            tg.start_soon(self._follow)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await self._leave()

    async def _leave(self) -> None:
        self._fenced = True
        try:
            status = await with_timeout(
                self._clock, self.renew_deadline, lambda: self._leases.delete(self.lease_name)
            )
            log.info("shard_membership_left", identity=self.identity, status=status)
        except (TimeoutError, *NETWORK_ERRORS) as exc:
            log.warning("shard_leave_failed", identity=self.identity, error=type(exc).__name__)

    async def _loop(self, next_round: float) -> None:
        while True:
            with anyio.CancelScope() as scope:  # cancelled by _wake: publish at once
                self._sleep_scope = scope
                try:
                    await self._clock.sleep_until(next_round)
                finally:
                    self._sleep_scope = None
            start = self._clock.monotonic()
            late = 0.0 if scope.cancel_called else max(0.0, start - next_round)
            next_round = await self._round(start)
            if not self._fenced:
                took = self._clock.monotonic() - start
                behind = late + took
                # Hysteresis: held past the slack, released at half of it.
                pressed = behind > self._slack if not self._pressed else behind > self._slack / 2
                self._set_pressure(pressed, late, took)

    def _set_pressure(self, pressed: bool, late: float, took: float) -> None:
        if pressed == self._pressed:
            return
        self._pressed = pressed
        if pressed:
            log.warning(
                "shard_renewal_late",
                identity=self.identity,
                late_seconds=round(late, 3),
                round_seconds=round(took, 3),
                why="the event loop or the API server is slow: actor start-ups trickle",
            )
        else:
            log.info("shard_renewal_on_time", identity=self.identity)
        if self._on_pressure is not None:
            self._on_pressure(pressed)

    def _wake(self) -> None:
        """Run a round now (a view is ready to publish)."""
        if self._sleep_scope is not None:
            self._sleep_scope.cancel()

    # --- the followers -----------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if self._dirty is not None:
            self._following = True
            self._dirty.set()

    async def _follow(self) -> None:
        """Run the followers after every change, one pass at a time, never inside a round;
        then have a round publish the view the pass released, if it changed."""
        assert self._dirty is not None
        while True:
            await self._dirty.wait()
            self._dirty = anyio.Event()
            version = self._version
            for rebalance in list(self._followers):
                await rebalance()
            self._released = version
            if not self._dirty.is_set():
                self._following = False
            if self._ready_to_publish() and not self._fenced:
                self._wake()

    def _ready_to_publish(self) -> bool:
        """The desired view may be published and differs from the one published."""
        return self._released == self._version and (
            self._published is None or self._published.members != self._desired.members
        )

    # --- one round ---------------------------------------------------------------------------

    async def _round(self, start: float) -> float:
        """Renew (publishing the released view), read the group, recompute the wanted view
        and hand the followers the change (without waiting for them: once they released a
        changed view, :meth:`_follow` wakes the next round at once, so a gained key waits a
        rebalance and one round trip, not one period). Returns when the next round is due."""
        if self._renewal_due(start):
            ok = await self._renew(start) and await self._read()
            if ok:
                self._unfence(start)
        else:  # between renewals: read the peers only (their deaths are seen sooner)
            ok = await self._read()
        if ok:
            if self._recompute():
                self._version += 1
            inputs = self._owns_inputs()
            if inputs != self._inputs:
                self._inputs = inputs
                self._mark_dirty()
            await self._collect_one()
        return self._next_due()

    def _renewal_due(self, start: float) -> bool:
        """A round renews when a period passed since the last renewal, when a view is ready
        to publish, and whenever this replica is fenced or never renewed; otherwise it only
        reads the peers (every ``read_period``)."""
        if self._fenced or self._last_renew is None or self._ready_to_publish():
            return True
        return start >= self._last_renew + self.retry_period

    def _owns_inputs(self) -> object:
        """Everything :meth:`owns` answers from except the key: the views published and
        wanted, the fence, and each live peer's published view. The followers are told
        (a rebalance over every CR) only when this changed."""
        now = self._clock.monotonic()
        return (
            self._fenced,
            self._settling(now),
            self._published.members if self._published is not None else None,
            self._desired.members,
            frozenset((p.identity, p.view.members) for p in self._peers.values() if p.live(now)),
        )

    async def _collect_one(self) -> None:
        """Delete the Lease of the peer dead longest, if it has been for ``collect_after``
        (class docstring); at most one request per round, bounded like the round's own."""
        now = self._clock.monotonic()
        stale = [
            p
            for p in self._peers.values()
            if p.lease_name and not p.live(now) and now - p.observed_at >= self.collect_after
        ]
        if not stale:
            return
        peer = min(stale, key=lambda p: p.observed_at)
        status = await self._bounded(
            lambda: self._leases.delete(peer.lease_name, resource_version=peer.resource_version)
        )
        if status is None:
            return
        if 200 <= status < 300 or status == 404:
            self._peers.pop(peer.identity, None)
            log.info(
                "shard_member_lease_collected",
                identity=self.identity,
                peer=peer.identity,
                lease=peer.lease_name,
                unchanged_seconds=round(now - peer.observed_at, 3),
            )
        else:  # 409: it changed since it was read (renewed after all); the next read sees it
            log.info(
                "shard_member_lease_kept",
                identity=self.identity,
                peer=peer.identity,
                status=status,
            )

    def _deadline(self) -> float:
        """Until when this replica may act on its last renewal; a fenced replica (acting on
        nothing) gives each attempt a full renew deadline."""
        if self._fenced or self._last_renew is None:
            return self._clock.monotonic() + self.renew_deadline
        return self._last_renew + self.renew_deadline

    async def _bounded(self, fn: Callable[[], Awaitable[T]]) -> T | None:
        left = self._deadline() - self._clock.monotonic()
        if left <= 0:
            return None
        self._in_flight += 1
        try:
            return await with_timeout(self._clock, left, fn)
        except (TimeoutError, *NETWORK_ERRORS) as exc:
            log.warning("shard_api_error", identity=self.identity, error=type(exc).__name__)
            return None
        finally:
            self._in_flight -= 1

    async def _renew(self, start: float) -> bool:
        if self._released == self._version or self._published is None:
            view = tuple(sorted(self._desired.members))
        else:  # the lost keys' actors are still stopping: keep claiming them
            view = tuple(sorted(self._published.members))
        written = await self._bounded(lambda: self._write(view))
        if written is None:
            self._failures += 1
            await self._maybe_fence()
            return False
        self._own = written
        self._renewals += 1
        self._last_renew = start
        self._published = Assignment.of(view)
        if not self._fenced and (
            self._fences_in_a_row
            and self._joined_at is not None
            and start - self._joined_at >= self._backoff_max
        ):
            self._fences_in_a_row = 0
        return True

    def _unfence(self, start: float) -> None:
        """Joined again: only after a renewal *and* a read of the peers since, so owns()
        never answers from peers' views read before the fence."""
        if not self._fenced:
            return
        self._fenced = False
        self._joined_at = start
        view = sorted(self._published.members) if self._published else []
        log.info("shard_member_joined", identity=self.identity, view=view)

    async def _write(self, view: tuple[str, ...]) -> LeaseObject | None:
        now = micro_time(self._clock.now())
        spec = LeaseRecord(
            holder_identity=self.identity,
            lease_duration_seconds=math.ceil(self.lease_duration),
            acquire_time=self._own.spec.acquire_time if self._own else now,
            renew_time=now,
        )
        if self._own is not None:
            status, lease = await self._leases.replace(
                self._leases.body(
                    self.lease_name, spec, view, self._own.metadata, api_url=self.api_url
                )
            )
            if lease is not None:
                return lease
            log.warning("shard_renew_refused", identity=self.identity, status=status)
            self._own = None  # 404 (deleted) or 409: create or re-read next time
            return None
        status, lease = await self._leases.create(
            self._leases.body(self.lease_name, spec, view, {}, api_url=self.api_url)
        )
        if status == 409:  # ours from an attempt whose answer was lost: adopt it
            for item in await self._read_group() or []:
                if item.metadata.get("name") == self.lease_name:
                    self._own = item
            return None
        return lease

    async def _read_group(self) -> list[LeaseObject] | None:
        _, items = await self._leases.list()
        return items

    async def _read(self) -> bool:
        items = await self._bounded(self._read_group)
        if items is None:
            self._failures += 1
            await self._maybe_fence()
            return False
        now = self._clock.monotonic()
        self._last_read = now
        seen: dict[str, Peer] = {}
        for item in items:
            identity = item.spec.holder_identity or ""
            if not identity or identity == self.identity:
                continue
            rv = str(item.metadata.get("resourceVersion", ""))
            peer = self._peers.get(identity)
            if peer is None or peer.resource_version != rv:
                duration = float(item.spec.lease_duration_seconds or self.lease_duration)
                view = Assignment.of(published_view(item))
                name = str(item.metadata.get("name", ""))
                url = published_api_url(item)
                peer = Peer(identity, rv, now, duration, view, lease_name=name, api_url=url)
            seen[identity] = peer
        self._peers = seen
        return True

    def _recompute(self) -> bool:
        """The wanted view from the live peers; True when it changed."""
        now = self._clock.monotonic()
        live = {p.identity for p in self._peers.values() if p.live(now)}
        members = live | {self.identity}
        if members == self._desired.members:
            return False
        log.info(
            "shard_members_changed",
            identity=self.identity,
            members=sorted(members),
            joined=sorted(members - self._desired.members),
            left=sorted(self._desired.members - members),
        )
        self._desired = Assignment.of(members)
        self._members_changed_at = now
        return True

    async def _maybe_fence(self) -> None:
        if self._fenced or self._clock.monotonic() < self._deadline():
            return
        self._fenced = True
        self._fences += 1
        self._fences_in_a_row += 1
        self._fenced_at = self._clock.monotonic()
        self._version += 1
        self._inputs = None  # the next round that reads tells the followers again
        self._mark_dirty()  # owns() is already False everywhere; the followers stop them
        log.error(
            "shard_member_fenced",
            identity=self.identity,
            seconds_since_renew=round(self._clock.monotonic() - (self._last_renew or 0.0), 3),
            rejoin_after_seconds=self._rejoin_backoff(),
            fences_in_a_row=self._fences_in_a_row,
            why="no renewal within the renew deadline; every actor stops, and the rejoin "
            "waits a growing back-off so a replica that cannot keep up does not thrash",
        )

    def _rejoin_backoff(self) -> float:
        n = max(self._fences_in_a_row, 1)
        return float(min(self.retry_period * 2 ** (n - 1), self._backoff_max))

    def _next_due(self) -> float:
        """The next round: one period after the last renewal; sooner after a failure (half
        a period, and exactly at the renew deadline, so the fence is never late), at the
        first moment a live peer's Lease expires (so its keys move within its duration), and
        one ``read_period`` after the last read of the peers (a read-only round: a peer's
        last Lease content is first seen at most that long after it was written, so its
        death is noticed that much sooner)."""
        now = self._clock.monotonic()
        due = (self._last_renew if self._last_renew is not None else now) + self.retry_period
        if self._fenced or due <= now:
            due = now + self.retry_period / 2
        if not self._fenced:
            due = min(due, self._deadline())
            if self._last_read is not None and self._last_read + self.read_period > now:
                due = min(due, self._last_read + self.read_period)  # (a failed read: not)
        settled = self._settle_end()
        if not self._fenced and settled is not None and settled > now:
            due = min(due, settled)  # the followers start this replica's share at once
        expiries = [p.observed_at + p.duration for p in self._peers.values() if p.live(now)]
        if expiries:
            due = min(due, min(expiries))
        if self._fenced and self._fenced_at is not None:
            due = max(due, self._fenced_at + self._rejoin_backoff())
        return max(due, now)

    def describe(self) -> dict[str, Any]:
        """Log/debug fields."""
        return {"identity": self.identity, "lease": self.lease_name, "fenced": self._fenced}
