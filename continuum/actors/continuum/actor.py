"""The ContinuumActor: everything about one Continuum CR, changed only by its messages.

It owns the CR's writer lease (acquire, renew every ``renewSeconds``, stop acting once
``ttl - safety margin`` passed without a successful renew), drift detection, replication
observation, the switchover triggers, the switchover run (a child task journaling through
this actor before each step), the post-switchover health check, and the answers to the
API's requests. Status is written as merge-patch diffs of what it knows.

A restarted actor never assumes it holds the lease: it reads the witness first, adopts the
lease only when the witness names its region, and resumes or compensates an unfinished
journal by the rule in ``docs/switchover.md``.

This module holds the actor's state, lifecycle, message dispatch, status writes and its own
audit events. The handling itself lives beside it, as functions over the actor:
``leasing`` (renew, claim, release), ``spec_changes`` (drift, a new spec), ``observation``
(the pair, lag, stale primaries, triggers), ``converging`` (the world beside the pair),
``background_refresh`` and ``background_observation`` (the witness calls, the observation's
reads and repairs, in child tasks), ``runs`` (the switchover run and its journal),
``health_runs`` (the post-switchover health check) and ``requests`` (the API's answers).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio
import msgspec

from continuum import metrics
from continuum.actors.continuum import quiet, view
from continuum.actors.continuum import requests as api
from continuum.actors.continuum.background_observation import (
    ObservationInFlight,
    begin_observation,
    observe_now,
    world_observed,
    world_repaired,
)
from continuum.actors.continuum.background_refresh import (
    RefreshInFlight,
    begin_refresh,
    continue_refresh,
)
from continuum.actors.continuum.converging import (
    WorldView,
    current_disagreement,
    serving_fallback,
)
from continuum.actors.continuum.env import Collaborators, ContinuumEnvironment, OpenOnUse
from continuum.actors.continuum.finalizing import (
    FinalizerAddEnded,
    FinalizerRetry,
    finalizer_add_ended,
    hold_finalizer,
    old_primary_unconfirmed,
    release_when_idle,
)
from continuum.actors.continuum.health_runs import health_crashed, health_done, start_health
from continuum.actors.continuum.keeper import LeaseKeeper
from continuum.actors.continuum.leasing import (
    refresh_lease,
    renew_for_successor,
    stop_and_release,
)
from continuum.actors.continuum.limits import AUDIT_BACKLOG
from continuum.actors.continuum.messages import (
    FenceRetryDue,
    HealthCrashed,
    HealthDone,
    HealthDue,
    RenewDue,
    StatusRetryDue,
    StepProgress,
    SwitchoverCrashed,
    SwitchoverDone,
    WitnessReplied,
    WorldObserved,
    WorldRepaired,
)
from continuum.actors.continuum.observation import evaluate_triggers
from continuum.actors.continuum.role_reassert import RolesWatermark
from continuum.actors.continuum.runs import (
    Running,
    recover_journal,
    step_progress,
    switchover_crashed,
    switchover_done,
)
from continuum.actors.continuum.self_fencing import SelfFence, after_refresh
from continuum.actors.continuum.spec_changes import (
    announce_created,
    check_drift,
    spec_observed,
    witness_signature,
)
from continuum.actors.continuum.status_writes import (
    StatusWrite,
    StatusWriteCrashed,
    StatusWriteEnded,
    start_status_write,
)
from continuum.actors.runtime import Actor, ReplyError
from continuum.audit.outbox import ReconcileSuccessThrottle
from continuum.core import status_retry
from continuum.core.deletion_grace import DeletionGrace
from continuum.core.dns_serving import ServingState
from continuum.core.lease import LeaseState, fencing_epoch
from continuum.core.runs import UndoAttempts
from continuum.errors import ContinuumError
from continuum.logs import get_logger
from continuum.messages.audit import AuditEvent, AuditType, new_event
from continuum.messages.commands import DeletionObserved, SpecInvalid, SpecObserved, Stop
from continuum.messages.crd import Continuum
from continuum.messages.lease import Lease
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    HealthRequest,
    StatusRequest,
    SwitchoverRequest,
)
from continuum.messages.status import (
    COND_AUDIT_DELIVERED,
    COND_SPEC_VALID,
    Condition,
    ContinuumStatus,
    Phase,
    find_condition,
    set_condition,
)
from continuum.messages.switchover import HealthReport
from continuum.ports import Witness
from continuum.switchover.lag import GraceMemory, LagBreachTracker

__all__ = ["ContinuumActor"]

log = get_logger("continuum.actor")


class _AuditPumpEnded(msgspec.Struct, frozen=True, kw_only=True):
    error: str


class ContinuumActor(Actor):
    """One per Continuum CR (registry key ``<namespace>/<name>``).

    Its attributes are the CR's state as this instance knows it; they change only while
    the actor handles a message (the modules beside this one are called from there).
    """

    mailbox_size = 64

    def __init__(self, cr: Continuum, env: ContinuumEnvironment) -> None:
        self.env = env
        self.cr = cr
        self.key = cr.key
        self.region = env.region
        self.clock = env.clock
        self.status: ContinuumStatus = cr.status
        self.written: ContinuumStatus = cr.status
        """The status last known stored (each write is the diff from it)."""
        self._status_write: StatusWrite | None = None
        """The routine status write in flight (``status_writes``)."""
        self._status_again = False
        """Status may have changed while that write was in flight: flush once it ends."""
        self._status_retry = status_retry.StatusRetry()
        self.spec_error: tuple[str, str] | None = None
        self.witness: Witness = OpenOnUse(lambda: env.witness_for(cr))
        self.witness_sig = witness_signature(cr)
        self.keeper = LeaseKeeper(
            witness=self.witness, key=self.key, region=self.region, clock=self.clock
        )
        self.collab: Collaborators = env.collaborators_for(cr)
        self.lease_state = LeaseState(
            key=self.key,
            region=self.region,
            ttl=self.ttl,
            safety_margin=env.safety_margin_seconds,
        )
        self.running: Running | None = None
        self.finalizer_held = cr.finalized_by_us
        """This region's copy carries the finalizer, as far as this actor knows."""
        self.finalizer_retry = FinalizerRetry()
        """When adding the finalizer may be tried again after failures (``finalizing.py``)."""
        self.deletion_waits_for = ""
        self.deletion_grace = DeletionGrace()
        """Per kind of wait (``finalizing.py``): when a deletion stops waiting for it."""
        self.old_primary_unconfirmed = old_primary_unconfirmed(
            cr.status.last_switchover, region=env.region
        )
        """A Cluster the last failover to this region left uncordoned (``finalizing.py``)."""
        self.observed_primary: str | None = None
        """The region whose Cluster the last observation that read every half found the one
        primary ("" none or several; ``None``: no such observation since start): who takes a
        lease without a holder (:func:`continuum.core.lease.claimant`)."""
        self.self_fence = SelfFence()
        self.refresh = RefreshInFlight()
        self.observing = ObservationInFlight()
        self.health: HealthReport | None = None
        self.world = WorldView()
        self.serving = ServingState()
        """What PowerDNS serves, judged against the holder (``DnsServesHolder``)."""
        self.undo_attempts: dict[str, UndoAttempts] = {}
        """Per run whose undo failed in this process: attempts, the failed undos, and the
        first result (its failure is what lastSwitchover reports)."""
        self.unreachable_streak = 0
        self.standby_grace = GraceMemory.from_status(
            standby_replica_cluster=cr.status.standby_replica_cluster,
            standby_available=cr.status.standby_available,
        )
        """The standby grace window's memory, seeded from status (controller.md §5.3)."""
        self.roles = RolesWatermark()
        self.lag_streak = 0
        self.lag_tracker = LagBreachTracker.from_spec(cr.spec)
        self.dryrun_cache: dict[tuple[str, str], tuple[Any, tuple[Any, ...], float]] = {}
        self._reconcile = ReconcileSuccessThrottle(heartbeat=env.reconcile_heartbeat_seconds)
        self._audit_queue: deque[AuditEvent] | None = None
        """Events handed to :meth:`emit` and not yet to the publisher (created on first use)."""
        self._audit_pumping = False
        """A pump task is draining ``_audit_queue`` (it starts with an event, ends empty)."""
        self._audit_room: anyio.Event | None = None
        """Set when the queue gets room again (only while an emitter waits for it)."""
        self._audit_error = ""
        self.log = log.bind(continuum=self.key, region=self.region)

    # --- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        # The gate covers the witness round trips only: every lease is settled before the
        # start-up status writes, which the Kubernetes client's connection pool bounds.
        async with self.env.start_gate.admitted(self.clock):
            await refresh_lease(self, startup=True)
        await after_refresh(self)  # fence or demote the own Cluster before anything else
        hold_finalizer(self)
        await announce_created(self)
        await check_drift(self)
        self.start_timers()
        await recover_journal(self)
        await observe_now(self)  # the phase reports the world as observed, from the start
        await self.flush()
        await release_when_idle(self)  # a CR being deleted with nothing in flight: let go

    async def on_stop(self, error: BaseException | None) -> None:
        if error is None and self.ctx.handing_over:
            await renew_for_successor(self)
        metrics.forget_continuum(self.key)
        with anyio.CancelScope(shield=True):
            try:
                await self.witness.aclose()
            except Exception as exc:  # a failing close must not mask the stop
                self.log.warning("witness_close_failed", error=str(exc))

    serves_views = True

    def view(self) -> ContinuumSummary:
        """The status summary (``GET /v1/continuums``), read without entering the mailbox:
        a status write, DryRun or observation awaiting a slow server never delays it."""
        return api.summary(self)

    async def on_message(self, message: msgspec.Struct) -> object:
        match message:
            case RenewDue(observe=observe):
                # The witness is called from a child task (``background_refresh``): the
                # mailbox keeps answering while it is slow or gone.
                stopped = False
                if await begin_refresh(self):
                    stopped = await self._refreshed()
                else:  # the writer role may lapse while the witness is slow: fence on time
                    await after_refresh(self)
                if observe and not stopped:
                    await self._observe()
            case WitnessReplied(event=event):
                if await continue_refresh(self, event):
                    stopped = await self._refreshed()
                    if self.observing.deferred and not stopped:
                        self.observing.deferred = False
                        await self._observe()
            case WorldObserved():
                await self._observed(over=await world_observed(self, message))
            case WorldRepaired():
                await self._observed(over=await world_repaired(self, message))
            case FenceRetryDue():
                # A demotion of a second primary failed: look again before the next tick.
                await self._observe()
            case StatusRetryDue():
                self._status_retry_event("fired")
                await self.flush()
            case StatusWriteEnded(write=write):
                self._status_write_ended(write)
                if self._status_again:
                    self._status_again = False
                    await self.flush()
            case FinalizerAddEnded(error=error):
                finalizer_add_ended(self, error)
            case StatusWriteCrashed(error=text):
                raise RuntimeError(f"status write failed: {text}")
            case SpecObserved(continuum=cr):
                await spec_observed(self, cr)
            case DeletionObserved(deletion_timestamp=stamp):
                meta = msgspec.structs.replace(self.cr.metadata, deletion_timestamp=stamp)
                self.cr = msgspec.structs.replace(self.cr, metadata=meta)
                await release_when_idle(self)
            case SpecInvalid(field=field, message=text):
                self.spec_error = (field, text)
                self.condition(COND_SPEC_VALID, "False", "Invalid", f"{field}: {text}")
                await self.flush()
            case StepProgress(event=event):
                await step_progress(self, event)
            case SwitchoverDone(result=result):
                await switchover_done(self, result)
            case SwitchoverCrashed(switchover_id=sid, error=text):
                await switchover_crashed(self, sid, text)
            case HealthDue(switchover_id=sid, plan=plan):
                start_health(self, plan, sid)
            case HealthDone(switchover_id=sid, report=report):
                await health_done(self, sid, report)
            case HealthCrashed(error=text):
                await health_crashed(self, text)
            case DryRunRequest():
                return api.dry_run(self, message)  # None: answered by DryRunMade
            case HealthRequest(fresh=fresh):
                return api.health(self, fresh=fresh)  # None: answered by HealthMade
            case StatusRequest():
                return api.summary(self)
            case SwitchoverRequest():
                api.switchover(self, message)  # answered by SwitchoverPreviewed
            case api.DryRunMade():
                api.dry_run_made(self, message)
            case api.SwitchoverPreviewed():
                await api.switchover_previewed(self, message)
            case api.HealthMade():
                api.health_made(message)
            case Stop():
                await stop_and_release(self)
            case _AuditPumpEnded(error=text):
                # A pump ends when its queue is empty; one that failed is a crash.
                if text:
                    raise RuntimeError(f"audit pump failed: {text}")
            case _:
                raise ReplyError(f"ContinuumActor does not handle {type(message).__name__}")
        return None

    async def _observe(self) -> None:
        """The tick's observation. Its reads and repairs run in child tasks
        (``background_observation``): the mailbox keeps answering while an API server or
        the DNS API hangs. A refresh waiting on the witness may change the holder or this
        instance's role: the observation then starts once it is over, against what it
        found. One with nothing to read is taken at once."""
        if self.refresh.waiting:
            self.observing.deferred = True
        elif (observed := begin_observation(self)) is not None:
            await self._observed(over=await world_observed(self, observed))

    async def _observed(self, *, over: bool) -> None:
        """After an observation's reads or repairs were taken: once it is over, the triggers
        (as after every observation); the status; then a deletion that waited for the world
        to agree goes on."""
        if over:
            await evaluate_triggers(self)
        await self.flush()
        if over:
            await release_when_idle(self)

    async def _refreshed(self) -> bool:
        """After a refresh is over. Returns ``True`` when the actor let go of a deleted CR
        and stops."""
        await after_refresh(self)
        # An undecided journal (witness unreadable at start, say) is decided again on every
        # renewal until the rule can tell: never left behind.
        await recover_journal(self)
        hold_finalizer(self)  # writes only while the finalizer is not held yet
        await self.flush()
        await self._reconcile_heartbeat()
        # Retried while a deletion waits (last: it may stop).
        return await release_when_idle(self)

    # --- the lease, as this instance knows it ------------------------------------------

    @property
    def lease_view(self) -> Lease | None:
        """The slot as last read or written (``None``: not read since start, a witness
        change, or a finished switchover)."""
        return self.lease_state.seen

    @lease_view.setter
    def lease_view(self, lease: Lease | None) -> None:
        self.lease_state = msgspec.structs.replace(self.lease_state, seen=lease)

    @property
    def witness_error(self) -> str:
        """Why the last refresh could not reach the witness ("" when it could)."""
        return self.lease_state.witness_error

    @property
    def overdue(self) -> bool:
        """Holding the lease, but renewals are overdue: no longer acting as writer."""
        return self.lease_state.overdue

    @property
    def epoch(self) -> int:
        """The fencing epoch (:func:`continuum.core.lease.fencing_epoch`): of the lease held,
        else of the lease last seen, else 0."""
        return fencing_epoch(self.keeper.lease, self.lease_view)

    @property
    def ttl(self) -> float:
        return float(self.cr.spec.lease_client.config.ttl_seconds)

    @property
    def renew_seconds(self) -> float:
        return float(self.cr.spec.lease_client.config.renew_seconds)

    def acting(self) -> bool:
        """True while this instance may act as the writer (see ``LeaseKeeper.acting``)."""
        return self.keeper.acting(ttl=self.ttl, safety_margin=self.env.safety_margin_seconds)

    def acting_primary(self) -> str:
        """The region holding the writer role as far as this instance knows: the holder of
        the lease last seen, live or expired (an expired lease's holder is still the last
        writer until someone takes it over); only a lease never seen or released falls
        back to the ``actingPrimary`` status remembers, then ``primaryRegion``."""
        lease = self.lease_view
        if lease is not None and lease.holder:
            return lease.holder
        return self.status.acting_primary or self.cr.spec.primary_region

    def start_timers(self) -> None:
        """(Re)start the repeating tick at ``renewSeconds``: renew, then observe (one timer
        per actor)."""
        self.ctx.start_timer("renew", self.renew_seconds, RenewDue(observe=True), repeat=True)

    # --- status and audit ----------------------------------------------------------------

    def condition(self, type_: str, status: str, reason: str, message: str) -> None:
        """Set condition ``type_`` in ``status`` (the next :meth:`flush` writes it). Setting
        it to what it already says changes nothing (not even ``status``'s identity)."""
        generation = self.cr.metadata.generation or None
        old = find_condition(self.status.conditions, type_)
        if (
            old is not None
            and old.status == status
            and old.reason == reason
            and old.message == message
            and old.observed_generation == generation
            and old.last_transition_time is not None
        ):
            return  # what set_condition would rebuild, equal to what is there
        cond = Condition(
            type=type_,
            status=status,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            observed_generation=generation,
        )
        self.status = msgspec.structs.replace(
            self.status, conditions=set_condition(self.status.conditions, cond, self.clock.now())
        )

    def _phase(self) -> Phase:
        return view.compute_phase(
            spec_invalid=self.spec_error is not None,
            running=self.running is not None,
            lease=self.lease_view,
            witness_error=self.witness_error,
            now=self.clock.now(),
            home_region=self.cr.spec.primary_region,
            standby_available=self.status.standby_available,
            disagreement=current_disagreement(self),
            dns_fallback=serving_fallback(self),
        )

    async def flush(self, *, essential: bool = False) -> bool:
        """Bring the live status up to date and have what changed since the last stored
        status written. Never raises; returns whether status is durable now.

        A routine flush writes from a child task (:mod:`.status_writes`, one at a time;
        changes made meanwhile go with the next) and returns False when it started one:
        the mailbox never waits for the API server. An ``essential`` flush (the journal
        before a step, the closed journal before the finalizer goes) first waits for the
        write in flight, then writes here and returns whether it landed. A failed write arms
        a prompt retry (0.5 s, doubling up to ``renewSeconds``;
        :mod:`continuum.core.status_retry`), so a refused write does not leave the CR telling
        an old story until the next tick; while it is armed only essential flushes write
        besides it. Nothing is written when nothing changed."""
        now = self.clock.now()
        phase = self._phase()
        lease = self.lease_view
        self.condition(
            "LeaseHeld",
            *_cond_fields(
                view.lease_condition(
                    region=self.region,
                    lease=lease,
                    acting=self.acting(),
                    witness_error=self.witness_error,
                    overdue=self.overdue,
                    now=now,
                )
            ),
        )
        wrong = "; ".join(w for w in (current_disagreement(self), serving_fallback(self)) if w)
        ready = view.ready_condition(phase, f"writer: {self.acting_primary()}. {wrong}".strip(". "))
        self.condition(ready.type, ready.status, ready.reason, ready.message)
        fields: dict[str, Any] = {"phase": phase, "primary_region": self.cr.spec.primary_region}
        if lease is not None and not self.witness_error:
            # Live in memory; what reaches the CR is decided by quiet.durable_status.
            fields.update(
                lease_holder=lease.holder or None,
                lease_expires_at=lease.expires_at,
                lease_generation=lease.generation,
            )
        if self.cr.metadata.generation:
            fields["observed_generation"] = self.cr.metadata.generation
        self.status = msgspec.structs.replace(self.status, **fields)
        self._audit_condition()
        if essential and self._status_write is not None:
            in_flight = self._status_write
            if in_flight.sending:
                await in_flight.done.wait()  # bounded by the request's own timeout
                self._status_write_ended(in_flight)
            else:  # still queued (maybe behind start-ups): this write takes its place
                in_flight.superseded = in_flight.applied = True
                self._status_write = None
        elif self._status_write is not None:
            self._status_again = True
            return False
        durable = quiet.durable_status(
            self.status,
            written=self.written,
            now=self.clock.now(),
            max_lag_seconds=self.cr.spec.max_lag_seconds,
        )
        if durable == self.written:
            return True
        if not essential:
            # An armed retry writes it; a crowded queue, the next renewal's flush.
            if not self._status_retry.armed and not self.env.write_queue.crowded:
                self._status_write = start_status_write(self, durable)
            return False
        try:
            await self.env.status.patch_status(self.key, durable, previous=self.written)
        except (ContinuumError, TimeoutError) as exc:
            self.log.warning("status_write_failed", error=str(exc))
            self._status_retry_event("failed")
            return False
        self.written = durable
        self._status_retry_event("landed")
        return True

    @property
    def writing_status(self) -> bool:
        """A routine status write is in flight: until it ends (and the next, carrying what
        changed meanwhile, lands) the stored status may lag the live one."""
        return self._status_write is not None

    def _status_write_ended(self, write: StatusWrite) -> None:
        """Take a routine write's outcome into account (once: an essential flush that
        waited for it may have done so before its message arrived)."""
        if write.applied:
            return
        write.applied = True
        if self._status_write is write:
            self._status_write = None
        if write.landed:
            self.written = write.durable
            self._status_retry_event("landed")
        else:
            self.log.warning("status_write_failed", error=write.error)
            self._status_retry_event("failed")

    def _status_retry_event(self, event: status_retry.Event) -> None:
        self._status_retry, timer = status_retry.decide(
            self._status_retry, event, cap=self.renew_seconds
        )
        match timer:
            case status_retry.Arm(delay=delay):
                self.ctx.start_timer("status-retry", delay, StatusRetryDue())
            case status_retry.Disarm():
                self.ctx.cancel_timer("status-retry")

    async def _reconcile_heartbeat(self) -> None:
        """``continuum-reconcile-success`` on a change of (phase, acting, writer) and at most
        once per heartbeat otherwise — never on every tick, which would flood the audit stream
        with one event per CR per 10 s saying nothing new. Only the acting instance reports
        it. Each emission is its own occurrence (its instant is in the identity): a state
        entered again later is a new event, never a copy JetStream would drop inside its
        duplicate window or store twice beyond it."""
        state = (self.status.phase, self.acting(), self.acting_primary())
        now = self.clock.monotonic()
        if not self._reconcile.should_emit(state, now=now) or not self.acting():
            return
        await self.emit(
            AuditType.RECONCILE_SUCCESS,
            identity=("reconcile", *state, self.epoch, self.clock.now().isoformat()),
            toPrimary=self.acting_primary(),
            reason="ok",
            message=f"reconcile loop healthy (phase {self.status.phase})",
        )

    async def emit(self, type_: AuditType, *, identity: tuple[Any, ...], **fields: Any) -> None:
        """Hand an audit event to the publisher; never fails the caller."""
        event = new_event(
            type_,
            continuum=self.key,
            occurred_at=self.clock.now(),
            identity=(self.region, *identity),
            applicationName=self.cr.spec.application_ref,
            epoch=self.epoch,
            region=self.region,
            **fields,
        )
        queue = self._audit_queue
        if queue is None:
            queue = self._audit_queue = deque()
        while len(queue) >= AUDIT_BACKLOG:
            # Past AUDIT_BACKLOG queued events: wait (back-pressure), never drop.
            if self._audit_room is None:
                self._audit_room = anyio.Event()
            await self._audit_room.wait()
        queue.append(event)
        if not self._audit_pumping:
            self._audit_pumping = True
            self.ctx.start_child(
                self._pump_audit,
                on_result=lambda _: _AuditPumpEnded(error=""),
                on_error=lambda e: _AuditPumpEnded(error=str(e) or repr(e)),
                name="audit-pump",
            )

    async def _pump_audit(self) -> None:
        """The actor's own events, handed to the publisher in order by one child task at a
        time, so a slow or full publisher never stalls lease renewal. It runs while there
        are events and ends when the queue is empty (no task for an actor with nothing to
        say); :meth:`emit` starts the next one."""
        queue = self._audit_queue
        assert queue is not None
        try:
            while queue:
                event = queue.popleft()
                if self._audit_room is not None:
                    self._audit_room.set()
                    self._audit_room = None
                try:
                    await self.env.audit.emit(event)
                    self._audit_error = ""
                except Exception as exc:
                    self._audit_error = str(exc) or type(exc).__name__
                    self.log.warning("audit_emit_failed", type=event.type.value, error=str(exc))
        finally:
            # No await between the empty queue and this: an emit either saw the pump
            # running (and its event is drained above) or starts a new one.
            self._audit_pumping = False

    def _audit_condition(self) -> None:
        state = self.env.audit.delivery_state(self.key)
        if state is not None:
            if state.delivered:
                self.condition(COND_AUDIT_DELIVERED, "True", "Delivered", "audit events stored")
            else:
                message = f"{state.pending} event(s) pending"
                if state.reason == "OutboxFull":
                    message += "; audit outbox full, emitters wait"
                if state.last_error:
                    message += f"; last error: {state.last_error}"
                self.condition(COND_AUDIT_DELIVERED, "False", state.reason, message[:900])
        elif self._audit_error:
            self.condition(COND_AUDIT_DELIVERED, "False", "EmitFailed", self._audit_error[:900])


def _cond_fields(cond: Condition) -> tuple[str, str, str]:
    return cond.status, cond.reason, cond.message
