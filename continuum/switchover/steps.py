"""The seven steps: for each an idempotent action and a compensating action, plus the fence.

Every action except ``audit-emit`` first reads the witness and refuses (``EpochChanged``)
unless the lease is still where the run put it (:class:`Fence`). ``swap-lease`` is one
compare-and-set (``Witness.handover``; ``acquire`` of the expired lease when unplanned) and
moves the fence to the target's tenure. ``promote-new-primary`` undoes its own partial writes
before it reports a failure, so the pair is never left with two replicas or two primaries.
``audit-emit`` hands the event to the sink and always succeeds (the data plane has
already moved; a lost audit record must not undo it).

Preconditions live in :mod:`continuum.switchover.preconditions` (shared with DryRun); the
duration constants are re-exported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import anyio

from continuum.errors import (
    EpochChanged,
    LeaseHeldByAnother,
    PreconditionFailed,
    SwitchoverError,
)
from continuum.messages.audit import AuditType, new_event
from continuum.messages.lease import Lease
from continuum.messages.switchover import (
    CnpgMode,
    JournalEntry,
    JournalPhase,
    Mechanism,
    Plan,
    StepName,
    step_number,
)
from continuum.ports import ClusterPair, TrafficRoutes, Witness
from continuum.switchover.preconditions import (
    STEP_AUDIT_EMIT_SECONDS,
    STEP_CORDON_OLD_SECONDS,
    STEP_DRAIN_HTTP_SECONDS,
    STEP_FLIP_DNS_SECONDS,
    STEP_PROMOTE_NEW_SECONDS,
    STEP_SWAP_LEASE_SECONDS,
    STEP_VALIDATE_LEASE_SECONDS,
)
from continuum.switchover.snapshot import SwitchoverPorts, records_for
from continuum.switchover.timeouts import with_timeout
from continuum.switchover.undrain import undo_drain

__all__ = [
    "STEPS",
    "STEP_AUDIT_EMIT_SECONDS",
    "STEP_CORDON_OLD_SECONDS",
    "STEP_DRAIN_HTTP_SECONDS",
    "STEP_FLIP_DNS_SECONDS",
    "STEP_PROMOTE_NEW_SECONDS",
    "STEP_SWAP_LEASE_SECONDS",
    "STEP_VALIDATE_LEASE_SECONDS",
    "Fence",
    "Run",
    "Step",
]


class Fence:
    """The fencing epoch a run acts under.

    Before the handover the lease must be held, unexpired, by ``from`` at ``epoch`` or at a
    generation of the owner's own later renewals, which it reports with
    :meth:`note_own_write` (a renewal bumps the generation; a read racing one may show
    either side of it). Unplanned: the (expired) lease must still be at ``epoch``. After
    the handover the lease belongs to the target, whose own renewals advance the generation:
    it must be held by the target at ``epoch`` or later.
    """

    def __init__(self, *, holder: str, epoch: int, unplanned: bool = False) -> None:
        self.holder = holder
        self.epoch = epoch
        self.unplanned = unplanned
        self.handed_over = False
        self._own: set[int] = {epoch}
        """Every generation of the tenure this run acts under (the plan's and the owner's
        later renewals): a read that raced one of those renewals may show either."""

    @classmethod
    def for_plan(cls, plan: Plan) -> Fence:
        return cls(holder=plan.from_region, epoch=plan.epoch, unplanned=plan.unplanned)

    def note_own_write(self, lease: Lease) -> None:
        """The owner renewed the lease itself: adopt its generation (only for our tenure)."""
        if not self.handed_over and lease.holder == self.holder and lease.generation > self.epoch:
            self.epoch = lease.generation
            self._own.add(lease.generation)

    def moved_to(self, lease: Lease) -> None:
        """The run itself moved the lease (handover, acquire, or handover back)."""
        self.holder = lease.holder
        self.epoch = lease.generation
        self._own = {lease.generation}
        self.handed_over = True
        self.unplanned = False

    def admits(self, lease: Lease, now: datetime) -> bool:
        """Whether ``lease`` (as read now) is still the tenure this run acts under."""
        if self.handed_over:
            return lease.holder == self.holder and lease.generation >= self.epoch
        if self.unplanned:
            return lease.generation == self.epoch
        return lease.generation in self._own and lease.is_held_by(self.holder, now)


@dataclass
class Run:
    """Mutable state of one switchover run; :meth:`journal` snapshots it for the owner."""

    id: str
    plan: Plan
    ports: SwitchoverPorts
    fence: Fence
    started_at: str
    completed: list[StepName] = field(default_factory=list)
    compensated: list[StepName] = field(default_factory=list)
    skipped: list[StepName] = field(default_factory=list)
    prior_weights: dict[str, int] = field(default_factory=dict)
    demotion_token: str = ""
    audit_error: str = ""

    def journal(self, step: StepName, phase: JournalPhase) -> JournalEntry:
        return JournalEntry(
            id=self.id,
            plan=self.plan,
            step=step,
            phase=phase,
            epoch=self.fence.epoch,
            started_at=self.started_at,
            completed=tuple(self.completed),
            compensated=tuple(self.compensated),
            skipped=tuple(self.skipped),
            prior_weights=dict(self.prior_weights),
            demotion_token=self.demotion_token,
        )

    # -- collaborators, each required by the step that calls it ---------------------------

    def witness(self) -> Witness:
        if self.ports.witness is None:
            raise PreconditionFailed(["step-1: Witness client is required"])
        return self.ports.witness

    def pair(self) -> ClusterPair:
        if self.ports.pair is None:
            raise PreconditionFailed(["step-2: CNPG reader is required"])
        return self.ports.pair

    def routes(self) -> TrafficRoutes:
        if self.ports.routes is None:
            raise PreconditionFailed(["step-3: HTTPRoute drainer is required"])
        return self.ports.routes

    async def check_fence(self) -> Lease:
        """Read the slot; return it when the fence admits it, else raise ``EpochChanged``."""
        lease = await self.witness().read(self.plan.lease_key)
        if not self.fence.admits(lease, self.ports.clock.now()):
            raise EpochChanged(
                f"lease is {lease.holder!r} gen {lease.generation}; the run acts under "
                f"{self.fence.holder!r} gen {self.fence.epoch}: refusing to act"
            )
        return lease


Action = Callable[[Run], Awaitable[None]]


@dataclass(frozen=True)
class Step:
    """One step. ``compensate`` is ``None`` when there is nothing to undo.
    ``compensate_failed`` says whether a failed attempt of this step may have written
    (so its own compensation runs too). ``needs_lost_region``: in unplanned mode the action
    runs with the short ``lost_region`` bound and a failure is recorded as skipped."""

    name: StepName
    action: Action
    compensate: Action | None
    compensate_failed: bool = True
    needs_lost_region: bool = False

    def timeout(self, plan: Plan) -> float:
        if plan.unplanned and self.needs_lost_region:
            return plan.timeouts.lost_region
        extra = plan.drain_seconds if self.name is StepName.DRAIN_HTTP else 0
        return plan.timeouts.for_step(self.name) + extra


def _cnpg(run: Run) -> bool:
    return run.plan.mechanism is Mechanism.CNPG_PAIR


# --- 1 validate-lease ----------------------------------------------------------------------


async def validate_lease(run: Run) -> None:
    await run.check_fence()


# --- 2 cordon-old-primary ------------------------------------------------------------------


async def cordon_old_primary(run: Run) -> None:
    if not _cnpg(run):
        return
    await run.check_fence()
    plan, pair = run.plan, run.pair()
    if plan.cnpg_mode is CnpgMode.DISTRIBUTED:
        run.demotion_token = await pair.demote(plan.from_region, new_primary=plan.to_region)
    else:
        await pair.fence(plan.from_region)


async def uncordon_old_primary(run: Run) -> None:
    """Make the old primary's Cluster the writer again — only while its region holds the
    lease, live, and only once the target's Cluster is observed standing down. An expired,
    moved or unreadable lease (a witness outage that outlasted the lease) raises: the undo
    stays in the journal, and the lease holder's instance, once the witness answers, brings
    the pair to the holder (the journal rule, then convergence); the old primary never
    writes after its lease lapsed.

    Never two writers (``docs/decisions.md`` #24): the undo of ``promote-new-primary`` runs
    before this one, but it may have failed (its read or write refused; the rollback goes
    on with the other undos) or been forgotten (a crash after it failed: the journal's
    ``step`` has moved on, and the failed undos are remembered only in the process). So
    this undo first stands the target down itself when it still acts as primary (the same
    write as that undo, idempotent), and refuses — raising, the undo left to the journal —
    while the target's half cannot be read or still reads as primary.

    A failover is the exception to the lease rule, as its lease lapsed before the run began: the
    undo of a cordon that landed (the lost region answered after all) claims the lapsed lease
    for ``from`` first, in one write that fails if anyone else took the slot, and makes its
    Cluster the writer again under that tenure (seed 305088: every undo of such a cordon was
    refused, the journal closed ``Failed`` with both Clusters replicas, and the deleted standby
    let go of a pair with no primary). ``from``'s instance adopts the lease when it answers;
    while it does not, the lease lapses again, as it had before the run."""
    if not _cnpg(run):
        return
    plan, pair = run.plan, run.pair()
    witness, now = run.witness(), run.ports.clock.now()
    lease = await witness.read(plan.lease_key)
    if plan.unplanned and lease.holder == plan.from_region and lease.is_free_at(now):
        lease = await witness.acquire(plan.lease_key, plan.from_region, plan.lease_ttl_seconds)
        run.fence.moved_to(lease)
    if not lease.is_held_by(plan.from_region, run.ports.clock.now()):
        raise EpochChanged(
            f"lease is {lease.holder!r} gen {lease.generation}, not held by "
            f"{plan.from_region!r}: refusing to make its Cluster the writer again"
        )
    await _stand_target_down(run)
    if plan.cnpg_mode is CnpgMode.REPLICA_FLIP:
        await pair.unfence(plan.from_region)
        return
    token = run.demotion_token
    if not token:
        old = (await pair.read_pair()).half(plan.from_region)
        token = old.demotion_token if old is not None else ""
    await pair.promote(plan.from_region, token=token)
    await pair.wait_ready_as_primary(plan.from_region, plan.timeouts.compensation)


async def _stand_target_down(run: Run) -> None:
    """Make sure the target's Cluster does not act as primary before ``from``'s is made the
    writer again. Read the pair; when the target's half acts as primary, stand it down —
    distributed: demote it towards ``from`` (its demotion token is the one ``from`` is then
    promoted with); replica-flip: make it a replica again — and read it again. Replica-flip
    only, once the target is observed a replica: set ``from``'s flag back to primary when
    a partial promotion had made it a replica (it stays fenced until the caller unfences
    it). Raises (:class:`SwitchoverError`) while the target's half cannot be read or still
    acts as primary; a target whose Cluster does not exist stands down trivially."""
    plan, pair = run.plan, run.pair()
    frm, to = plan.from_region, plan.to_region
    for attempt in range(2):
        state = await pair.read_pair()
        half = state.half(to)
        if half is not None and half.missing:
            return
        if half is None or not half.reachable:
            why = half.error if half is not None else "not in the pair"
            raise SwitchoverError(
                f"{to!r}'s Cluster cannot be read ({why}): refusing to make {frm!r}'s Cluster "
                "the writer again before the target is observed demoted"
            )
        if not half.acts_as_primary:
            old = state.half(frm)
            flip = plan.cnpg_mode is CnpgMode.REPLICA_FLIP
            if flip and old is not None and old.reachable and not old.acts_as_primary:
                await pair.set_replica_enabled(frm, False)
            return
        if attempt:
            break
        if plan.cnpg_mode is CnpgMode.DISTRIBUTED:
            run.demotion_token = await pair.demote(to, new_primary=frm)
        else:
            await pair.set_replica_enabled(to, True)
    raise SwitchoverError(
        f"{to!r}'s Cluster still acts as primary after it was demoted: refusing to make "
        f"{frm!r}'s Cluster the writer again"
    )


# --- 3 drain-http --------------------------------------------------------------------------


async def drain_http(run: Run) -> None:
    plan = run.plan
    if plan.route is None:
        return
    await run.check_fence()
    routes = run.routes()
    for backend, weight in (await routes.drain(plan.route, plan.from_region)).items():
        run.prior_weights.setdefault(backend, weight)
    # The drain wait: a cancellable sleep on the injected clock (0 means none).
    await run.ports.clock.sleep(plan.drain_seconds)
    for backend, weight in (await routes.shift_to(plan.route, plan.to_region)).items():
        run.prior_weights.setdefault(backend, weight)


async def restore_http(run: Run) -> None:
    """Give the route back the weights the drain found. When the drain's answer never came
    (a reply lost, a crash while it was in flight: no prior weights known), read the route:
    a copy left serving nothing gets the weights recorded on it before the drain, or the
    source region's backends at 1 (``undrain.undo_drain``); a copy still serving is left as
    it is. Never leaves every backend at 0 when it found them so. Idempotent."""
    plan = run.plan
    if plan.route is None:
        return
    routes = run.routes()
    if run.prior_weights:
        await routes.restore(plan.route, dict(run.prior_weights))
        return
    regions = (plan.from_region, plan.to_region)
    weights = undo_drain(
        await routes.read_state(plan.route), regions=regions, towards=plan.from_region
    )
    if weights is not None:
        await routes.restore(plan.route, weights)


# --- 4 flip-dns ----------------------------------------------------------------------------


async def flip_dns(run: Run) -> None:
    await run.check_fence()
    await _commit_records(run, run.plan.to_region, verify=True)


async def unflip_dns(run: Run) -> None:
    await _commit_records(run, run.plan.from_region, verify=False)


async def _commit_records(run: Run, region: str, *, verify: bool) -> None:
    plan, ports = run.plan, run.ports
    if ports.dns is None or plan.dns is None:
        raise PreconditionFailed(["step-4: DNS record writer is required"])
    records = records_for(plan, ports, region)
    await ports.dns.commit(plan.dns.zone, records)
    if verify and ports.verify_dns is not None:
        await ports.verify_dns(records, plan.dns.region_ips.get(region, ()))


# --- 5 swap-lease --------------------------------------------------------------------------


async def swap_lease(run: Run) -> None:
    plan = run.plan
    lease = await run.check_fence()
    witness = run.witness()
    if run.fence.unplanned:
        new = await witness.acquire(plan.lease_key, plan.to_region, plan.lease_ttl_seconds)
    else:
        new = await witness.handover(lease, plan.to_region, plan.lease_ttl_seconds)
    run.fence.moved_to(new)


async def swap_lease_back(run: Run) -> None:
    """Hand the lease back to ``from`` when the target still holds it; otherwise there is
    nothing of ours to undo. Unplanned too: the failover acquired the lost writer's expired
    lease, and its undo names that writer again rather than releasing the slot to nobody
    (seed 419868: the released lease was claimed by no one, each region's memory naming the
    other as the writer, while the lost region's Cluster, never cordoned, stayed primary).
    The lost region's instance adopts the lease once it answers; while it does not, the lease
    lapses at its TTL and a failover may run again. A failover's lease that already lapsed
    (an undo resumed after a crash) cannot be handed over: it is released and claimed for
    ``from``, unless somebody else claimed the freed slot first (then nothing of ours is left
    to undo)."""
    plan = run.plan
    witness = run.witness()
    lease = await witness.read(plan.lease_key)
    if lease.holder != plan.to_region:
        return
    if plan.unplanned and lease.is_free_at(run.ports.clock.now()):
        await witness.release(lease)
        try:
            back = await witness.acquire(plan.lease_key, plan.from_region, plan.lease_ttl_seconds)
        except LeaseHeldByAnother:
            return
    else:
        back = await witness.handover(lease, plan.from_region, plan.lease_ttl_seconds)
    run.fence.moved_to(back)


# --- 6 promote-new-primary -----------------------------------------------------------------


async def promote_new_primary(run: Run) -> None:
    if not _cnpg(run):
        return
    await run.check_fence()
    plan, pair = run.plan, run.pair()
    frm, to = plan.from_region, plan.to_region
    undo: list[Callable[[], Awaitable[None]]] = []
    try:
        if plan.cnpg_mode is CnpgMode.DISTRIBUTED:
            token = "" if plan.unplanned else await _demotion_token(run)

            async def demote_back() -> None:
                # A promotion write that never landed leaves nothing to undo; demoting a
                # replica that was never primary would wait for a token that never comes.
                half = (await pair.read_pair()).half(to)
                if half is not None and half.reachable and not half.acts_as_primary:
                    return
                run.demotion_token = await pair.demote(to, new_primary=frm)

            undo.append(demote_back)
            await pair.promote(to, token=token)
            await pair.wait_ready_as_primary(to, plan.timeouts.promote_new_primary)
            return
        if not plan.unplanned:
            undo.append(lambda: pair.set_replica_enabled(frm, False))
            await pair.set_replica_enabled(frm, True)
        undo.append(lambda: pair.set_replica_enabled(to, True))
        await pair.set_replica_enabled(to, False)
        await pair.wait_ready_as_primary(to, plan.timeouts.promote_new_primary)
        if not plan.unplanned:
            await pair.unfence(frm)
    except Exception as exc:
        # Undo our own partial writes, newest first (the target back to replica before the
        # old primary back to primary: never two primaries), shielded and bounded. A
        # cancellation is not undone here: the step's bound firing is compensated by the
        # sequencer (``compensate_failed``), and the owner being stopped leaves the journal
        # to the recovery rule, which resumes this idempotent step forward.
        await _self_compensate(run, undo, exc)
        raise


async def _demotion_token(run: Run) -> str:
    if run.demotion_token:
        return run.demotion_token
    old = (await run.pair().read_pair()).half(run.plan.from_region)
    if old is None or not old.demotion_token:
        raise PreconditionFailed(["step-6: no demotion token of the old primary to promote with"])
    run.demotion_token = old.demotion_token
    return run.demotion_token


async def _self_compensate(
    run: Run, undo: list[Callable[[], Awaitable[None]]], cause: BaseException
) -> None:
    """Run ``undo`` newest first, stopping at the first failure: each undo may only run once
    the one before it landed (replica-flip: the old primary is set back to primary only
    after the target is a replica again). What is left is the sequencer's compensation of
    this step (``compensate_failed``), which reads the pair and redoes it in order."""
    clock, bound = run.ports.clock, run.plan.timeouts.compensation
    with anyio.CancelScope(shield=True):
        for fn in reversed(undo):
            try:
                await with_timeout(clock, bound, fn)
            except Exception as exc:
                cause.add_note(f"step-6 self-compensation failed: {exc}")
                return


async def demote_new_primary(run: Run) -> None:
    """Reverse a completed promotion (used when a later step cannot be kept)."""
    if not _cnpg(run):
        return
    plan, pair = run.plan, run.pair()
    if plan.cnpg_mode is CnpgMode.DISTRIBUTED:
        half = (await pair.read_pair()).half(plan.to_region)
        if half is not None and half.reachable and not half.acts_as_primary:
            return  # the promotion never landed: nothing to reverse
        run.demotion_token = await pair.demote(plan.to_region, new_primary=plan.from_region)
        return
    state = await pair.read_pair()
    new, old = state.half(plan.to_region), state.half(plan.from_region)
    stood_down = new is not None and new.reachable and not new.acts_as_primary
    if stood_down and old is not None and old.reachable and old.acts_as_primary:
        # Nothing to reverse (the promotion never landed, or the rollback already put the
        # roles back: a retry after ``cordon-old-primary`` was undone must not fence the
        # writer again).
        return
    if not plan.unplanned:
        await pair.fence(plan.from_region)
    await pair.set_replica_enabled(plan.to_region, True)
    if not plan.unplanned:
        await pair.set_replica_enabled(plan.from_region, False)


# --- 7 audit-emit --------------------------------------------------------------------------


async def audit_emit(run: Run) -> None:
    """Hand ``continuum-switchover`` (and ``continuum-failback-completed`` for a failback)
    to the sink. A refusal is recorded in ``run.audit_error`` and never fails the step."""
    plan, ports = run.plan, run.ports
    if ports.audit is None:
        run.audit_error = "no audit sink configured"
        return
    types = [AuditType.SWITCHOVER]
    if plan.reason == "failback":
        types.append(AuditType.FAILBACK_COMPLETED)
    for audit_type in types:
        message = (
            "failback completed"
            if audit_type is AuditType.FAILBACK_COMPLETED
            else f"switchover {plan.from_region} → {plan.to_region} completed"
        )
        event = new_event(
            audit_type,
            continuum=plan.continuum_name,
            occurred_at=ports.clock.now(),
            identity=(run.id, "7/7"),
            applicationName=plan.application_name,
            fromPrimary=plan.from_region,
            toPrimary=plan.to_region,
            step=f"{step_number(StepName.AUDIT_EMIT)}/7",
            reason=plan.reason,
            message=message,
            initiatedBy=plan.initiated_by,
            epoch=run.fence.epoch,
            region=plan.to_region,
        )
        try:
            await ports.audit.emit(event)
        except Exception as exc:
            run.audit_error = str(exc) or type(exc).__name__


STEPS: tuple[Step, ...] = (
    Step(StepName.VALIDATE_LEASE, validate_lease, None),
    Step(
        StepName.CORDON_OLD_PRIMARY,
        cordon_old_primary,
        uncordon_old_primary,
        needs_lost_region=True,
    ),
    Step(StepName.DRAIN_HTTP, drain_http, restore_http, needs_lost_region=True),
    Step(StepName.FLIP_DNS, flip_dns, unflip_dns),
    Step(StepName.SWAP_LEASE, swap_lease, swap_lease_back),
    Step(
        StepName.PROMOTE_NEW_PRIMARY,
        promote_new_primary,
        demote_new_primary,
        compensate_failed=True,
    ),
    Step(StepName.AUDIT_EMIT, audit_emit, None),
)
"""The seven steps in order (indexes match :data:`~continuum.messages.switchover.STEP_ORDER`)."""
