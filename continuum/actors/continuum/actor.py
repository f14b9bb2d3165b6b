"""The ContinuumActor: everything about one Continuum CR, changed only by its messages.

It owns the CR's writer lease (acquire, renew every ``renewSeconds``, stop acting once
``ttl - safety margin`` passed without a successful renew), drift detection, replication
observation, the switchover triggers, the switchover run (a child task journaling through
this actor before each step), the post-switchover health check, and the answers to the
API's requests. Status is written as merge-patch diffs of what it knows.

A restarted actor never assumes it holds the lease: it reads the witness first, adopts the
lease only when the witness names its region, and resumes or compensates an unfinished
journal by the rule in ``docs/switchover.md``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import anyio
import msgspec

from continuum import metrics
from continuum.actors.continuum import requests as api
from continuum.actors.continuum import view
from continuum.actors.continuum.env import Collaborators, ContinuumEnvironment, OpenOnUse
from continuum.actors.continuum.lease import LeaseKeeper, WitnessGateway
from continuum.actors.continuum.messages import (
    HealthCrashed,
    HealthDone,
    HealthDue,
    ObserveDue,
    RenewDue,
    StepProgress,
    SwitchoverCrashed,
    SwitchoverDone,
)
from continuum.actors.continuum.stale import demote_stale_primaries, stale_primaries
from continuum.actors.runtime import Actor, ReplyError
from continuum.errors import (
    ContinuumError,
    LeaseHeldByAnother,
    LeaseLost,
    WitnessError,
)
from continuum.logs import get_logger
from continuum.messages.audit import AuditEvent, AuditType, new_event
from continuum.messages.commands import SpecInvalid, SpecObserved, Stop
from continuum.messages.crd import Continuum
from continuum.messages.lease import Lease
from continuum.messages.requests import (
    DryRunRequest,
    HealthRequest,
    StatusRequest,
    SwitchoverRequest,
)
from continuum.messages.status import (
    COND_AUDIT_DELIVERED,
    COND_LAST_SWITCHOVER_HEALTHY,
    COND_SPEC_VALID,
    COND_STANDBY_AVAILABLE,
    Condition,
    ContinuumStatus,
    LastHealth,
    Phase,
    ReplicationLag,
    max_replication_lag,
    set_condition,
)
from continuum.messages.switchover import HealthReport, PairState, Plan, SwitchoverResult
from continuum.ports import Witness
from continuum.switchover import journal as journal_rule
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.health import HealthOptions, post_switchover_health, summarize
from continuum.switchover.lag import LagBreachTracker, derive_posture
from continuum.switchover.observe import SwitchoverPorts
from continuum.switchover.sequencer import Sequencer
from continuum.switchover.steps import Fence
from continuum.switchover.timeouts import with_timeout
from continuum.switchover.triggers import (
    FailbackPending,
    RunSwitchover,
    TriggerInputs,
    decide_trigger,
    next_streak,
)

__all__ = ["ContinuumActor"]

log = get_logger("continuum.actor")

READ_TIMEOUT = 5.0
AUDIT_BACKLOG = 1000
JOURNAL_ASK_TIMEOUT = 30.0


class _AuditPumpEnded(msgspec.Struct, frozen=True, kw_only=True):
    error: str


class _Running(msgspec.Struct, kw_only=True):
    id: str
    plan: Plan
    fence: Fence
    from_request: bool
    started: float


class ContinuumActor(Actor):
    """One per Continuum CR (registry key ``<namespace>/<name>``)."""

    mailbox_size = 64

    def __init__(self, cr: Continuum, env: ContinuumEnvironment) -> None:
        self.env = env
        self.cr = cr
        self.key = cr.key
        self.region = env.region
        self.clock = env.clock
        self.status: ContinuumStatus = cr.status
        self._written: ContinuumStatus = cr.status
        self.spec_error: tuple[str, str] | None = None
        self.witness: Witness = OpenOnUse(lambda: env.witness_for(cr))
        self._witness_sig = self._signature(cr)
        self.keeper = LeaseKeeper(
            witness=self.witness, key=self.key, region=self.region, clock=self.clock
        )
        self.collab: Collaborators = env.collaborators_for(cr)
        self.lease_view: Lease | None = None
        self.witness_error = ""
        self.overdue = False
        self.running: _Running | None = None
        self.health: HealthReport | None = None
        self.unreachable_streak = 0
        self.lag_streak = 0
        self.lag_tracker = LagBreachTracker.from_spec(cr.spec)
        self.failback_announced = ""
        self.dryrun_cache: dict[tuple[str, str], tuple[Any, tuple[Any, ...], float]] = {}
        self._reconcile_state: tuple[Any, ...] | None = None
        self._reconcile_at = -1e18
        self._was_acting = False
        self._audit_out, self._audit_in = anyio.create_memory_object_stream[AuditEvent](
            AUDIT_BACKLOG
        )
        self._audit_error = ""
        self._log = log.bind(continuum=self.key, region=self.region)

    # --- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        self.ctx.start_child(
            self._pump_audit,
            on_result=lambda _: _AuditPumpEnded(error=""),
            on_error=lambda e: _AuditPumpEnded(error=str(e) or repr(e)),
            name="audit-pump",
        )
        await self._refresh_lease(startup=True)
        await self._announce_created()
        await self._check_drift()
        self._start_timers()
        await self._recover_journal()
        await self._flush()

    async def on_stop(self, error: BaseException | None) -> None:
        metrics.forget_continuum(self.key)
        with anyio.CancelScope(shield=True):
            try:
                await self.witness.aclose()
            except Exception as exc:  # a failing close must not mask the stop
                self._log.warning("witness_close_failed", error=str(exc))

    async def on_message(self, message: msgspec.Struct) -> object:
        match message:
            case RenewDue():
                await self._refresh_lease()
                await self._flush()
                await self._reconcile_heartbeat()
            case ObserveDue():
                await self._observe()
                await self._evaluate_triggers()
                await self._flush()
            case SpecObserved(continuum=cr):
                await self._spec_observed(cr)
            case SpecInvalid(field=field, message=text):
                self.spec_error = (field, text)
                self._condition(COND_SPEC_VALID, "False", "Invalid", f"{field}: {text}")
                await self._flush()
            case StepProgress(event=event):
                await self._step_progress(event)
            case SwitchoverDone(result=result):
                await self._switchover_done(result)
            case SwitchoverCrashed(switchover_id=sid, error=text):
                await self._switchover_crashed(sid, text)
            case HealthDue(switchover_id=sid, plan=plan):
                self._start_health(plan, sid)
            case HealthDone(switchover_id=sid, report=report):
                await self._health_done(sid, report)
            case HealthCrashed(switchover_id=sid, error=text):
                self._condition(
                    COND_LAST_SWITCHOVER_HEALTHY, "Unknown", "HealthCheckErrored", text[:900]
                )
                await self._flush()
            case DryRunRequest():
                return await api.dry_run(self, message)
            case HealthRequest(fresh=fresh):
                return await api.health(self, fresh=fresh)
            case StatusRequest():
                return api.summary(self)
            case SwitchoverRequest():
                return await api.switchover(self, message)
            case Stop():
                await self._stop_and_release()
            case _AuditPumpEnded(error=text):
                # Only an actor being stopped ends its pump; anything else is a crash.
                raise RuntimeError(f"audit pump ended: {text or 'closed'}")
            case _:
                raise ReplyError(f"ContinuumActor does not handle {type(message).__name__}")
        return None

    # --- the lease ---------------------------------------------------------------------

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
        """The region holding the writer role as far as this instance knows."""
        lease = self.lease_view
        if lease is not None and lease.holder and not lease.is_free_at(self.clock.now()):
            return lease.holder
        return self.status.acting_primary or self.cr.spec.primary_region

    def _start_timers(self) -> None:
        self.ctx.start_timer("renew", self.renew_seconds, RenewDue(), repeat=True)
        self.ctx.start_timer("observe", self.renew_seconds, ObserveDue(), repeat=True)

    async def _refresh_lease(self, *, startup: bool = False) -> None:
        """Renew as holder, or read as standby (adopting a lease the witness gives us)."""
        was_acting = self._was_acting
        try:
            if self.keeper.holding:
                await self._renew()
            else:
                await self._read_and_maybe_claim()
            self.witness_error = ""
        except (WitnessError, TimeoutError) as exc:
            self.witness_error = str(exc) or f"witness did not answer within {READ_TIMEOUT:g}s"
            self._log.warning("witness_unavailable", error=self.witness_error)
        now_acting = self.acting()
        self._was_acting = now_acting
        self.overdue = self.keeper.holding and not now_acting
        if now_acting and self.keeper.last_renewed is not None:
            # Re-check exactly when the writer role would lapse, not at the next tick.
            lapse = self.keeper.last_renewed + self.ttl - self.env.safety_margin_seconds
            self.ctx.start_timer("lapse", max(0.0, lapse - self.clock.monotonic()), RenewDue())
        if was_acting and not now_acting and self.overdue:
            self._log.error("writer_role_dropped", reason="renew-overdue", ttl=self.ttl)
            await self._emit(
                AuditType.LEASE_LOST,
                identity=("overdue", self.keeper.lease.generation if self.keeper.lease else 0),
                fromPrimary=self.region,
                reason="renew-overdue",
                message="no successful renew within ttl - safety margin; stopped acting as writer",
            )
        metrics.set_lease_held(self.key, self.acting())
        if self.acting():
            self.status = msgspec.structs.replace(self.status, acting_primary=self.region)

    async def _renew(self) -> None:
        previous = self.keeper.lease
        started = self.clock.monotonic()
        try:
            self.lease_view = await with_timeout(self.clock, READ_TIMEOUT, self.keeper.renew)
        except LeaseLost as exc:
            metrics.observe_renew(self.clock.monotonic() - started, ok=False)
            self._log.warning("lease_lost", error=str(exc))
            await self._emit(
                AuditType.LEASE_LOST,
                identity=("lost", previous.generation if previous else 0),
                fromPrimary=self.region,
                reason="lease-lost",
                message="lease renew returned LeaseLost; will attempt re-acquire",
            )
            await self._claim(reacquire=True)
            return
        except (WitnessError, TimeoutError):
            metrics.observe_renew(self.clock.monotonic() - started, ok=False)
            raise
        metrics.observe_renew(self.clock.monotonic() - started, ok=True)

    async def _read_and_maybe_claim(self) -> None:
        lease = await with_timeout(self.clock, READ_TIMEOUT, lambda: self.witness.read(self.key))
        self.lease_view = lease
        now = self.clock.now()
        if lease.holder == self.region and not lease.is_free_at(now):
            await with_timeout(self.clock, READ_TIMEOUT, lambda: self.keeper.adopt(lease))
            self.lease_view = self.keeper.lease
            await self._announce_acquired(adopted=True)
            return
        designated = lease.holder or self.status.acting_primary or self.cr.spec.primary_region
        if lease.is_free_at(now) and designated == self.region and self.running is None:
            await self._claim(reacquire=False)

    async def _claim(self, *, reacquire: bool) -> None:
        try:
            self.lease_view = await with_timeout(
                self.clock, READ_TIMEOUT, lambda: self.keeper.acquire(self.ttl)
            )
        except LeaseHeldByAnother as exc:
            self.lease_view = Lease(key=self.key, holder=exc.holder, expires_at=exc.expires_at)
            if reacquire:
                self._log.error("lease_collision", holder=exc.holder)
                await self._emit(
                    AuditType.LEASE_COLLISION,
                    identity=("collision", exc.holder, str(exc.expires_at)),
                    fromPrimary=self.cr.spec.primary_region,
                    reason="lease-collision",
                    message=f"Acquire returned LeaseHeldByAnother (split-brain warning): {exc}",
                )
            return
        await self._announce_acquired(adopted=False)

    async def _announce_acquired(self, *, adopted: bool) -> None:
        lease = self.keeper.lease
        if lease is None:
            return
        self._log.info("lease_acquired", generation=lease.generation, adopted=adopted)
        await self._emit(
            AuditType.LEASE_ACQUIRED,
            identity=("acquired", lease.generation),
            toPrimary=self.region,
            reason="lease-acquire",
            message=f'acquired lease for region "{self.region}" (gen {lease.generation})',
        )

    async def _stop_and_release(self) -> None:
        if self.running is None and self.keeper.holding:
            try:
                await with_timeout(self.clock, READ_TIMEOUT, self.keeper.release)
                self._log.info("lease_released")
            except (WitnessError, TimeoutError) as exc:
                self._log.warning("lease_release_failed", error=str(exc))
        self.ctx.stop()

    # --- spec and drift ----------------------------------------------------------------

    @staticmethod
    def _signature(cr: Continuum) -> bytes:
        """What identifies the witness client: kind and config, except the timing (a TTL or
        renew change applies to the same witness)."""
        client = cr.spec.lease_client
        config = msgspec.structs.replace(client.config, ttl_seconds=30, renew_seconds=10)
        return msgspec.json.encode((client.kind, config))

    async def _spec_observed(self, cr: Continuum) -> None:
        old = self.cr
        self.cr = cr
        self.spec_error = None
        self._condition(COND_SPEC_VALID, "True", "Valid", "spec is valid")
        self.dryrun_cache.clear()
        if self._signature(cr) != self._witness_sig and self.running is None:
            await self._rebuild_witness(cr)
        if cr.spec.lease_client.config.renew_seconds != old.spec.lease_client.config.renew_seconds:
            self._start_timers()
        self.collab = self.env.collaborators_for(cr)
        self.lag_tracker = LagBreachTracker.from_spec(cr.spec)
        await self._check_drift()
        await self._evaluate_triggers()
        await self._flush()

    async def _rebuild_witness(self, cr: Continuum) -> None:
        self._log.info("witness_rebuilt", kind=cr.spec.lease_client.kind)
        if self.keeper.holding:
            try:
                await with_timeout(self.clock, READ_TIMEOUT, self.keeper.release)
            except (WitnessError, TimeoutError) as exc:
                self._log.warning("lease_release_failed", error=str(exc))
        old = self.witness
        self.witness = OpenOnUse(lambda: self.env.witness_for(cr))
        self._witness_sig = self._signature(cr)
        self.keeper = LeaseKeeper(
            witness=self.witness, key=self.key, region=self.region, clock=self.clock
        )
        self.lease_view = None
        try:
            await old.aclose()
        except Exception as exc:
            self._log.warning("witness_close_failed", error=str(exc))
        await self._refresh_lease()

    async def _announce_created(self) -> None:
        uid = self.cr.metadata.uid or self.key
        if self.status.cr_created_announced == uid:
            return
        spec = self.cr.spec
        await self._emit(
            AuditType.CR_CREATED,
            identity=("created", uid),
            toPrimary=spec.primary_region,
            reason="cr-observed",
            message=f"per-CR actor started; primaryRegion={spec.primary_region} "
            f"hotStandby=[{', '.join(spec.hot_standby_regions)}]",
        )
        self.status = msgspec.structs.replace(self.status, cr_created_announced=uid)

    async def _check_drift(self) -> None:
        current = view.spec_fingerprint(self.cr.spec)
        previous = self.status.spec_fingerprint
        if previous is not None and previous != current:
            spec = self.cr.spec
            self._log.info("config_changed", previous=previous, current=current)
            await self._emit(
                AuditType.CONFIG_CHANGED,
                identity=("config", previous, current),
                toPrimary=spec.primary_region,
                reason="config-drift",
                message=f"switchover-relevant spec changed: prev={previous} cur={current} "
                f"(primaryRegion={spec.primary_region}, "
                f"hotStandby=[{', '.join(spec.hot_standby_regions)}])",
            )
        self.status = msgspec.structs.replace(self.status, spec_fingerprint=current)

    # --- observation and triggers ------------------------------------------------------

    async def _observe(self) -> None:
        pair = self.collab.pair
        if pair is None or self.cr.spec.switchover.mechanism != "cnpg-pair":
            return
        acting = self.acting_primary()
        try:
            state = await with_timeout(self.clock, READ_TIMEOUT, pair.read_pair)
        except (ContinuumError, TimeoutError) as exc:
            self._log.warning("pair_unreadable", error=str(exc))
            self.unreachable_streak = next_streak(self.unreachable_streak, True)
            return
        now = self.clock.now()
        lag = dict(self.status.replication_lag)
        standby_ok: bool | None = None
        primary_down = False
        worst = 0.0
        for half in state.halves:
            if half.region == acting:
                primary_down = bool(half.error) or not half.ready
                continue
            if half.error:
                continue
            standby_ok = bool(standby_ok is not False and half.ready)
            if half.lag_seconds is not None:
                lag[half.region] = ReplicationLag(
                    seconds=half.lag_seconds, bytes=half.lag_bytes, observed_at=now
                )
                worst = max(worst, half.lag_seconds)
        self.unreachable_streak = next_streak(self.unreachable_streak, primary_down)
        if self.running is None and self.acting():
            await self._demote_stale_primaries(state)
        measured = worst if any(h.lag_seconds is not None for h in state.halves) else None
        probed = await self._probe_replication(acting, state, lag, now)
        if probed is not None:
            measured = probed
        self.lag_streak = self.lag_tracker.observe(measured).streak
        if standby_ok is not None:
            self._condition(
                COND_STANDBY_AVAILABLE,
                "True" if standby_ok else "False",
                "StandbyReachable" if standby_ok else "StandbyUnreachable",
                "standby half is Ready" if standby_ok else "standby half is not Ready",
            )
        self.status = msgspec.structs.replace(
            self.status,
            replication_lag=lag,
            max_replication_lag=max_replication_lag(lag),
            standby_available=standby_ok,
        )

    async def _probe_replication(
        self, acting: str, state: PairState, lag: dict[str, ReplicationLag], now: datetime
    ) -> float | None:
        """Lag of the standby from ``pg_stat_replication`` on the acting primary, when the CR
        configures the probe; written into ``lag``. ``None``: not configured or not measured
        (a failed probe is never a lag of 0)."""
        probe = self.collab.replication
        if probe is None:
            return None
        standby = next((h for h in state.halves if h.region != acting and not h.error), None)
        if standby is None:
            return None
        try:
            observation = await with_timeout(self.clock, READ_TIMEOUT, lambda: probe(acting))
        except (ContinuumError, TimeoutError, OSError) as exc:
            self._log.warning("replication_probe_failed", error=str(exc))
            return None
        posture = derive_posture(observation, standby.name)
        if posture.max_lag_seconds is None:
            return None
        lag[standby.region] = ReplicationLag(
            seconds=posture.max_lag_seconds, bytes=posture.max_lag_bytes, observed_at=now
        )
        return posture.max_lag_seconds

    async def _demote_stale_primaries(self, state: PairState) -> None:
        """Fence a region that kept a Cluster acting as primary while it was unreachable
        (see ``stale.py``): never two primaries once a partition heals."""
        pair = self.collab.pair
        if pair is None or not stale_primaries(state, writer=self.region):
            return
        outcomes = await demote_stale_primaries(
            pair, state, writer=self.region, clock=self.clock, timeout=READ_TIMEOUT
        )
        for region, outcome in outcomes.items():
            self._log.warning("stale_primary_demoted", stale=region, outcome=outcome)

    async def _evaluate_triggers(self) -> None:
        if self.running is not None or self.spec_error is not None:
            return
        spec = self.cr.spec
        decision = decide_trigger(
            TriggerInputs(
                self_region=self.region,
                original_primary=spec.primary_region,
                acting_primary=self.acting_primary() if not self.acting() else self.region,
                hot_standby_regions=tuple(spec.hot_standby_regions),
                now=self.clock.now(),
                lease=None if self.witness_error else self.lease_view,
                requested=spec.switchover.requested,
                requested_target=spec.switchover.target_region or "",
                requested_reason=spec.switchover.reason,
                requested_by=spec.switchover.requested_by,
                failback_approved=spec.failback.approved,
                auto_failover=spec.auto_failover,
                unreachable_streak=self.unreachable_streak,
                lag_breach_streak=self.lag_streak,
                required_streak=spec.auto_failover_observations,
            )
        )
        if isinstance(decision, FailbackPending):
            await self._announce_failback_pending(decision.from_region, decision.to_region)
        elif isinstance(decision, RunSwitchover):
            if decision.unplanned and decision.to_region != self.region:
                return
            if decision.reason == "lag-breach":
                await self._emit(
                    AuditType.CNPG_LAG_BREACH,
                    identity=("lag", self.lag_streak, self.clock.now().isoformat()),
                    fromPrimary=decision.from_region,
                    reason="lag-breach",
                    message=f"replication lag over threshold for {self.lag_streak} observations",
                )
            elif spec.switchover.requested:
                await self._emit(
                    AuditType.CNPG_PROMOTABLE,
                    identity=("promotable", self.cr.metadata.generation),
                    fromPrimary=decision.from_region,
                    reason="promotable",
                    message="standby promotable; switchover requested",
                )
            self._start_run(
                from_region=decision.from_region,
                to_region=decision.to_region,
                reason=decision.reason,
                initiated_by=decision.initiated_by,
                unplanned=decision.unplanned,
                from_request=spec.switchover.requested,
            )

    async def _announce_failback_pending(self, from_region: str, to_region: str) -> None:
        ident = f"{self.cr.metadata.generation}:{from_region}->{to_region}"
        if self.failback_announced == ident:
            return
        self.failback_announced = ident
        self._log.info("failback_pending", to=to_region)
        await self._emit(
            AuditType.FAILBACK_PENDING,
            identity=("failback-pending", ident),
            fromPrimary=from_region,
            toPrimary=to_region,
            reason="approval-pending",
            message="failback awaiting operator approval (spec.failback.approved)",
        )

    # --- the switchover run ------------------------------------------------------------

    def _ports(self, *, writes: bool) -> SwitchoverPorts:
        return SwitchoverPorts(
            clock=self.clock,
            witness=WitnessGateway(self.keeper) if writes else self.witness,
            pair=self.collab.pair,
            routes=self.collab.routes,
            dns=self.collab.dns,
            audit=_RegionSink(self),
            verify_dns=self.collab.verify_dns,
        )

    def _start_run(
        self,
        *,
        from_region: str,
        to_region: str,
        reason: str,
        initiated_by: str,
        unplanned: bool,
        from_request: bool,
    ) -> str:
        epoch = (self.keeper.lease or self.lease_view or Lease(key=self.key)).generation
        plan = plan_from_spec(
            self.cr,
            from_region=from_region,
            to_region=to_region,
            reason=reason,
            initiated_by=initiated_by,
            epoch=epoch,
            unplanned=unplanned,
            timeouts=self.env.timeouts,
        )
        sid = f"{self.clock.now().strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
        fence = Fence.for_plan(plan)
        self.keeper.observers.append(fence.note_own_write)
        self.running = _Running(
            id=sid,
            plan=plan,
            fence=fence,
            from_request=from_request,
            started=self.clock.monotonic(),
        )
        sequencer = Sequencer(self._ports(writes=True), on_step=self._journal_through_actor)
        self._log.info("switchover_started", id=sid, to=to_region, reason=reason, epoch=epoch)
        self.ctx.start_child(
            lambda: sequencer.execute(plan, switchover_id=sid, fence=fence),
            on_result=lambda r: SwitchoverDone(result=r, from_request=from_request),
            on_error=lambda e: SwitchoverCrashed(switchover_id=sid, error=str(e) or repr(e)),
            name=f"switchover:{sid}",
        )
        return sid

    async def _journal_through_actor(self, event: Any) -> None:
        """Called by the run (child task): the actor persists the journal, then the step runs."""
        await self.ctx.ref.ask(StepProgress(event=event), timeout=JOURNAL_ASK_TIMEOUT)

    async def _step_progress(self, event: Any) -> None:
        self._log.info(
            "switchover_step",
            step=event.step.value,
            kind=event.kind,
            epoch=event.journal.epoch,
            seconds=round(event.duration_seconds, 3),
            error=event.error or None,
        )
        if event.kind == "finished":
            metrics.observe_step(event.step.value, event.duration_seconds)
        self.status = msgspec.structs.replace(
            self.status, switchover=view.journal_from_entry(event.journal)
        )
        if event.kind in ("starting", "compensating") and not await self._flush():
            raise ReplyError("the journal could not be persisted; refusing to run the step")

    async def _recover_journal(self) -> None:
        journal = self.status.switchover
        if journal is None or self.running is not None:
            return
        entry = view.entry_from_journal(journal)
        if entry is None:
            self._log.error("journal_unresumable", id=journal.id)
            return
        decision = journal_rule.decide(entry, None if self.witness_error else self.lease_view)
        self._log.warning("journal_found", id=entry.id, decision=type(decision).__name__)
        if isinstance(decision, journal_rule.Finished):
            self.status = msgspec.structs.replace(self.status, switchover=None)
            return
        if isinstance(decision, journal_rule.Undecided):
            self._log.warning("journal_undecided", id=entry.id, why=decision.reason)
            return
        fence = Fence(holder=entry.plan.from_region, epoch=entry.epoch)
        self.keeper.observers.append(fence.note_own_write)
        self.running = _Running(
            id=entry.id,
            plan=entry.plan,
            fence=fence,
            from_request=False,
            started=self.clock.monotonic(),
        )
        sequencer = Sequencer(self._ports(writes=True), on_step=self._journal_through_actor)
        if isinstance(decision, journal_rule.Resume):
            resume = decision

            async def work() -> SwitchoverResult:
                return await sequencer.resume(
                    entry,
                    from_step=resume.from_step,
                    epoch=resume.epoch,
                    completed=resume.completed,
                )
        else:
            steps = decision.steps

            async def work() -> SwitchoverResult:
                return await sequencer.compensate(entry, steps)

        self.ctx.start_child(
            work,
            on_result=lambda r: SwitchoverDone(result=r),
            on_error=lambda e: SwitchoverCrashed(switchover_id=entry.id, error=str(e) or repr(e)),
            name=f"recover:{entry.id}",
        )

    async def _switchover_done(self, result: SwitchoverResult) -> None:
        run = self.running
        self.running = None
        if run is not None and run.fence.note_own_write in self.keeper.observers:
            self.keeper.observers.remove(run.fence.note_own_write)
        plan = run.plan if run is not None else None
        duration = self.clock.monotonic() - run.started if run is not None else 0.0
        last = view.last_switchover(
            result,
            reason=plan.reason if plan else "",
            initiated_by=plan.initiated_by if plan else "",
            duration=duration,
        )
        self.status = msgspec.structs.replace(self.status, switchover=None, last_switchover=last)
        metrics.observe_switchover(duration, result=last.result.lower())
        if result.ok and not result.compensated and plan is not None:
            self.status = msgspec.structs.replace(self.status, acting_primary=result.to_region)
            self.lease_view = None
            self.unreachable_streak = self.lag_streak = 0
            self.lag_tracker.reset()
            self.ctx.start_timer(
                "health",
                self.env.health_delay_seconds,
                HealthDue(switchover_id=result.id, plan=plan),
            )
        if result.audit_error:
            self._condition(COND_AUDIT_DELIVERED, "False", "PublishFailed", result.audit_error)
        self._log.info(
            "switchover_finished",
            id=result.id,
            ok=result.ok,
            result=last.result,
            failed_step=result.failed_step.value if result.failed_step else None,
            error=result.error or None,
            seconds=round(duration, 3),
        )
        if run is not None and run.from_request:
            try:
                await self.env.status.clear_switchover_request(self.key)
            except ContinuumError as exc:
                self._log.warning("clear_request_failed", error=str(exc))
        await self._refresh_lease()
        await self._flush()

    async def _switchover_crashed(self, sid: str, text: str) -> None:
        self._log.error("switchover_crashed", id=sid, error=text)
        self.running = None
        # The journal stays: the rule decides on the next start (or below, at once).
        await self._refresh_lease()
        await self._recover_journal()
        await self._flush()

    # --- health ------------------------------------------------------------------------

    def _health_options(self) -> HealthOptions:
        spec = self.cr.spec
        vantages = tuple(spec.health.vantages) if spec.health and spec.health.vantages else None
        latency = spec.health.latency_probe if spec.health else None
        return HealthOptions(
            clock=self.clock,
            pair=self.collab.pair,
            resolver=self.env.resolver,
            vantages=vantages or self.env.vantages,
            probe_timeout=self.env.probe_timeout_seconds,
            latency=self.collab.latency,
            latency_threshold_seconds=(latency.threshold_ms / 1000.0) if latency else 0.5,
            audit_tail=self.env.audit_tail,
        )

    def _start_health(self, plan: Plan, sid: str) -> None:
        options = self._health_options()
        self.ctx.start_child(
            lambda: post_switchover_health(plan, options, switchover_id=sid),
            on_result=lambda r: HealthDone(switchover_id=sid, report=r),
            on_error=lambda e: HealthCrashed(switchover_id=sid, error=str(e) or repr(e)),
            name=f"health:{sid}",
        )

    async def _health_done(self, sid: str, report: HealthReport) -> None:
        self.health = report
        metrics.count_health_run(report.verdict)
        status, reason, message = summarize(report)
        self._log.info("health_checked", id=sid, verdict=report.verdict, summary=message)
        self._condition(COND_LAST_SWITCHOVER_HEALTHY, status, reason, message)
        self.status = msgspec.structs.replace(
            self.status,
            last_health=LastHealth(
                checked_at=self.clock.now(),
                switchover_id=sid,
                to_region=report.newPrimaryRegion,
                verdict=report.verdict,
                summary=message,
                checks=[
                    {
                        "name": c.name,
                        "status": c.status,
                        "deferred": c.deferred,
                        "detail": c.detail[:900],
                    }  # type: ignore[misc]
                    for c in report.checks
                ],
            ),
        )
        await self._flush()

    # --- status and audit ----------------------------------------------------------------

    def _condition(self, type_: str, status: str, reason: str, message: str) -> None:
        cond = Condition(
            type=type_,
            status=status,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            observed_generation=self.cr.metadata.generation or None,
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
        )

    async def _flush(self) -> bool:
        """Write what changed in status since the last successful write. Never raises;
        returns whether status is now durable."""
        now = self.clock.now()
        phase = self._phase()
        lease = self.lease_view
        self._condition(
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
        ready = view.ready_condition(phase, f"writer: {self.acting_primary()}")
        self._condition(ready.type, ready.status, ready.reason, ready.message)
        fields: dict[str, Any] = {"phase": phase, "primary_region": self.cr.spec.primary_region}
        if lease is not None and not self.witness_error:
            stale = (
                self.status.lease_holder != (lease.holder or None)
                or self.status.lease_expires_at is None
                or lease.expires_at is None
                or (self.status.lease_expires_at - now).total_seconds() < self.ttl / 2
            )
            if stale:
                fields.update(
                    lease_holder=lease.holder or None,
                    lease_expires_at=lease.expires_at,
                    lease_generation=lease.generation,
                )
        if self.cr.metadata.generation:
            fields["observed_generation"] = self.cr.metadata.generation
        self.status = msgspec.structs.replace(self.status, **fields)
        self._audit_condition()
        if self.status == self._written:
            return True
        try:
            await self.env.status.patch_status(self.key, self.status, previous=self._written)
        except (ContinuumError, TimeoutError) as exc:
            self._log.warning("status_write_failed", error=str(exc))
            return False
        self._written = self.status
        return True

    async def _reconcile_heartbeat(self) -> None:
        state = (self.status.phase, self.acting(), self.acting_primary())
        now = self.clock.monotonic()
        if state == self._reconcile_state and now - self._reconcile_at < (
            self.env.reconcile_heartbeat_seconds
        ):
            return
        self._reconcile_state, self._reconcile_at = state, now
        if not self.acting():
            return
        await self._emit(
            AuditType.RECONCILE_SUCCESS,
            identity=("reconcile", *state, int(now // self.env.reconcile_heartbeat_seconds)),
            toPrimary=self.acting_primary(),
            reason="ok",
            message=f"reconcile loop healthy (phase {self.status.phase})",
        )

    async def _emit(self, type_: AuditType, *, identity: tuple[Any, ...], **fields: Any) -> None:
        """Hand an audit event to the publisher; never fails the caller."""
        event = new_event(
            type_,
            continuum=self.key,
            occurred_at=self.clock.now(),
            identity=(self.region, *identity),
            applicationName=self.cr.spec.application_ref,
            epoch=(self.keeper.lease or self.lease_view or Lease(key=self.key)).generation,
            region=self.region,
            **fields,
        )
        try:
            self._audit_out.send_nowait(event)
        except anyio.WouldBlock:
            # Past AUDIT_BACKLOG queued events: wait (back-pressure), never drop.
            await self._audit_out.send(event)

    async def _pump_audit(self) -> None:
        """The actor's own events, handed to the publisher in order by one child task, so a
        slow or full publisher never stalls lease renewal."""
        async for event in self._audit_in:
            try:
                await self.env.audit.emit(event)
                self._audit_error = ""
            except Exception as exc:
                self._audit_error = str(exc) or type(exc).__name__
                self._log.warning("audit_emit_failed", type=event.type.value, error=str(exc))

    def _audit_condition(self) -> None:
        delivery = getattr(self.env.audit, "delivery_state", None)
        if callable(delivery):
            state = delivery(self.key)
            if state.delivered:
                self._condition(COND_AUDIT_DELIVERED, "True", "Delivered", "audit events stored")
            else:
                message = f"{state.pending} event(s) pending"
                if state.last_error:
                    message += f"; last error: {state.last_error}"
                self._condition(COND_AUDIT_DELIVERED, "False", "Pending", message[:900])
        elif self._audit_error:
            self._condition(COND_AUDIT_DELIVERED, "False", "EmitFailed", self._audit_error[:900])


def _cond_fields(cond: Condition) -> tuple[str, str, str]:
    return cond.status, cond.reason, cond.message


class _RegionSink:
    """The AuditSink a run sees: stamps this instance's region on each event."""

    def __init__(self, actor: ContinuumActor) -> None:
        self._actor = actor

    async def emit(self, event: AuditEvent) -> None:
        await self._actor.env.audit.emit(msgspec.structs.replace(event, region=self._actor.region))
