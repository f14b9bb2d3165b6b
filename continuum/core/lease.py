"""The writer lease of one Continuum CR as one instance keeps it: a pure decision function.

``decide(state, event) -> (state, effects)`` over a frozen :class:`LeaseState`. Events are
the renewal timer (:class:`RefreshDue`) and the witness's answers (:class:`WitnessAnswered`,
:class:`WitnessRefused`); effects are data the shell carries out (:class:`CallWitness`,
:class:`Emit`, :class:`Log`, :class:`SetTimer`, :class:`CancelTimer`). A refresh is a short
conversation: at most one :class:`CallWitness` per step, always the last effect, and the
shell feeds its answer back as the next event until a step asks for no call.

The rule (``docs/architecture.md``, "Core and shell"):

* holding the lease → renew it; ``LeaseLost`` → audit ``LEASE_LOST`` and re-acquire (a
  collision is audited as ``LEASE_COLLISION``);
* not holding → read it; held by this region and live → adopt (renew to prove it, audit
  ``LEASE_ACQUIRED``); free and this region its :func:`claimant` (the last holder; for a
  slot without one, the region whose Cluster was observed the one primary, else the acting
  primary status remembers, else ``primaryRegion``) with no run under way → acquire;
* the witness unreachable or slow → ``witness_error`` is set and nothing else changes;
* the instance acts as writer only while it holds the lease and less than
  ``ttl - safety_margin`` seconds passed since the last successful write (never consulting
  the witness); dropping the role because renewals are overdue is audited once;
* a failed renew while still acting arms a ``lapse`` timer at the exact moment the role would
  lapse; a successful refresh disarms it.

Never does I/O, never reads a clock (time comes in the events), never raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from continuum.messages.audit import AuditType
from continuum.messages.lease import Lease

__all__ = [
    "CallWitness",
    "CancelTimer",
    "Effect",
    "Emit",
    "Event",
    "LeaseState",
    "Log",
    "RefreshDue",
    "SetTimer",
    "WitnessAnswered",
    "WitnessRefused",
    "claimant",
    "decide",
    "fencing_epoch",
]

WitnessOp = Literal["renew", "read", "adopt", "acquire", "reacquire"]
Refusal = Literal["lost", "held-by-another", "unavailable"]


def fencing_epoch(held: Lease | None, seen: Lease | None) -> int:
    """The fencing epoch this instance acts (and stamps its audit events) under: the
    generation of the lease it holds, else of the lease it last saw, else 0. The one
    definition: the shell reads it only through ``ContinuumActor.epoch`` (runs, DryRun,
    convergence, self-fencing and audit events alike)."""
    lease = held if held is not None else seen
    return lease.generation if lease is not None else 0


class LeaseState(msgspec.Struct, frozen=True, kw_only=True):
    """What one instance knows about its CR's lease.

    ``held``/``last_renewed`` are the keeper's (the one serialized writer of the lease in the
    process, which a running switchover also writes through); ``seen`` is the slot as last
    read or written (``None``: never read since start or since a switchover finished).
    """

    key: str
    region: str
    ttl: float
    safety_margin: float
    held: Lease | None = None
    last_renewed: float | None = None
    seen: Lease | None = None
    witness_error: str = ""
    overdue: bool = False
    was_acting: bool = False
    lapse_armed: bool = False
    designated: str = ""
    """Who should hold the lease when it is free and unowned as this instance remembers it:
    the acting primary status remembers, else ``primaryRegion`` (see :func:`claimant`)."""
    observed_primary: str | None = None
    """The region whose Cluster the last observation that read every half of the pair found
    the one primary; "" when it found none or several; ``None`` when no such observation was
    made since start."""
    pair_configured: bool = False
    """The observation reads a pair (``observed_primary`` can be known)."""
    primary_region: str = ""
    run_under_way: bool = False
    refreshing: bool = False

    @property
    def holding(self) -> bool:
        """True while this instance believes it holds the lease (it may since have expired)."""
        return self.held is not None and self.held.holder == self.region

    def acting(self, now: float) -> bool:
        """True while this instance may act as writer at monotonic time ``now``."""
        if not self.holding or self.last_renewed is None:
            return False
        return now - self.last_renewed < max(0.0, self.ttl - self.safety_margin)


# --- events --------------------------------------------------------------------------------


class RefreshDue(msgspec.Struct, frozen=True, kw_only=True):
    """The renew timer fired (or a refresh is wanted now). ``now``: monotonic seconds;
    ``wall``: UTC."""

    now: float
    wall: datetime


class WitnessAnswered(msgspec.Struct, frozen=True, kw_only=True):
    """A :class:`CallWitness` succeeded with ``lease``; ``started`` is when it was sent."""

    op: WitnessOp
    lease: Lease
    started: float
    now: float
    wall: datetime


class WitnessRefused(msgspec.Struct, frozen=True, kw_only=True):
    """A :class:`CallWitness` failed: ``lost`` (``LeaseLost``), ``held-by-another``
    (``holder`` until ``expires_at``) or ``unavailable`` (unreachable, timed out)."""

    op: WitnessOp
    refusal: Refusal
    error: str
    now: float
    wall: datetime
    holder: str = ""
    expires_at: datetime | None = None


Event = RefreshDue | WitnessAnswered | WitnessRefused


# --- effects -------------------------------------------------------------------------------


class CallWitness(msgspec.Struct, frozen=True, kw_only=True):
    """Call the witness: ``renew`` the held lease, ``read`` the slot, ``adopt`` ``lease``
    (renew a lease read as ours), ``acquire``/``reacquire`` the slot. Answer with
    :class:`WitnessAnswered` or :class:`WitnessRefused`."""

    op: WitnessOp
    lease: Lease | None = None


class Emit(msgspec.Struct, frozen=True, kw_only=True):
    """Publish an audit event (the shell stamps continuum, region, epoch and time)."""

    type: AuditType
    identity: tuple[Any, ...]
    fields: dict[str, str]


class Log(msgspec.Struct, frozen=True, kw_only=True):
    level: Literal["info", "warning", "error"]
    event: str
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class SetTimer(msgspec.Struct, frozen=True, kw_only=True):
    """(Re)arm the one-shot timer ``name`` to deliver a refresh after ``delay`` seconds."""

    name: str
    delay: float


class CancelTimer(msgspec.Struct, frozen=True, kw_only=True):
    name: str


Effect = CallWitness | Emit | Log | SetTimer | CancelTimer

_Out = tuple[LeaseState, list[Effect]]


# --- the rule ------------------------------------------------------------------------------


def decide(state: LeaseState, event: Event) -> _Out:
    """One step of the rule (module docstring). Pure; never raises."""
    match event:
        case RefreshDue():
            state = msgspec.structs.replace(state, refreshing=True)
            if state.holding:
                return state, [CallWitness(op="renew", lease=state.held)]
            return state, [CallWitness(op="read")]
        case WitnessAnswered():
            return _answered(state, event)
        case WitnessRefused():
            return _refused(state, event)


def _answered(state: LeaseState, ev: WitnessAnswered) -> _Out:
    lease = ev.lease
    if ev.op in ("renew", "adopt", "acquire", "reacquire"):
        mine = lease.holder == state.region
        state = msgspec.structs.replace(
            state,
            held=lease if mine else None,
            last_renewed=ev.started if mine else None,
            seen=lease,
        )
        effects: list[Effect] = []
        if ev.op != "renew" and mine:
            effects += _announce_acquired(state, lease, adopted=ev.op == "adopt")
        return _settle(state, ev.now, effects, error="")
    # read
    state = msgspec.structs.replace(state, seen=lease)
    if lease.holder == state.region and not lease.is_free_at(ev.wall):
        return state, [CallWitness(op="adopt", lease=lease)]
    if (
        lease.is_free_at(ev.wall)
        and claimant(state, lease) == state.region
        and not state.run_under_way
    ):
        return state, [CallWitness(op="acquire")]
    return _settle(state, ev.now, [], error="")


def claimant(state: LeaseState, lease: Lease) -> str:
    """Who should take ``lease`` (as read, free) — "" for nobody yet:

    * its holder, live or lapsed: the last writer (its instance re-acquires it);
    * a slot without a holder (released, or never held): the region whose Cluster the last
      observation found the one primary — the world, not the memory of the writer, which
      can name the other region in each instance (seed 419868: a failover's undo released
      the slot, each region remembered the other as the writer and neither claimed it
      while the lost region's Cluster, never cordoned, stayed primary);
    * a released slot (generation above 0) while the pair is configured and has not been
      observed whole since start: nobody yet (the next observation tells);
    * otherwise (a slot never held, no pair, a pair with no one primary): the acting
      primary status remembers, else ``primaryRegion``.
    """
    if lease.holder:
        return lease.holder
    if state.observed_primary:
        return state.observed_primary
    if state.observed_primary is None and state.pair_configured and lease.generation > 0:
        return ""
    return state.designated


def _refused(state: LeaseState, ev: WitnessRefused) -> _Out:
    if ev.refusal == "lost" and ev.op == "renew":
        previous = state.held
        state = msgspec.structs.replace(state, held=None, last_renewed=None)
        return state, [
            Log(level="warning", event="lease_lost", fields={"error": ev.error}),
            Emit(
                type=AuditType.LEASE_LOST,
                identity=("lost", previous.generation if previous else 0),
                fields={
                    "fromPrimary": state.region,
                    "reason": "lease-lost",
                    "message": "lease renew returned LeaseLost; will attempt re-acquire",
                },
            ),
            CallWitness(op="reacquire"),
        ]
    if ev.refusal == "held-by-another" and ev.op in ("acquire", "reacquire"):
        seen = Lease(key=state.key, holder=ev.holder, expires_at=ev.expires_at)
        state = msgspec.structs.replace(state, seen=seen)
        effects: list[Effect] = []
        if ev.op == "reacquire":
            effects = [
                Log(level="error", event="lease_collision", fields={"holder": ev.holder}),
                Emit(
                    type=AuditType.LEASE_COLLISION,
                    identity=("collision", ev.holder, str(ev.expires_at)),
                    fields={
                        "fromPrimary": state.primary_region,
                        "reason": "lease-collision",
                        "message": "Acquire returned LeaseHeldByAnother (split-brain warning): "
                        f"{ev.error}",
                    },
                ),
            ]
        return _settle(state, ev.now, effects, error="")
    if ev.op == "adopt":
        # The lease read as ours could not be proven: hold nothing.
        state = msgspec.structs.replace(state, held=None, last_renewed=None)
    error = ev.error or "witness did not answer"
    return _settle(
        state,
        ev.now,
        [Log(level="warning", event="witness_unavailable", fields={"error": error})],
        error=error,
    )


def _announce_acquired(state: LeaseState, lease: Lease, *, adopted: bool) -> list[Effect]:
    return [
        Log(
            level="info",
            event="lease_acquired",
            fields={"generation": lease.generation, "adopted": adopted},
        ),
        Emit(
            type=AuditType.LEASE_ACQUIRED,
            identity=("acquired", lease.generation),
            fields={
                "toPrimary": state.region,
                "reason": "lease-acquire",
                "message": f'acquired lease for region "{state.region}" (gen {lease.generation})',
            },
        ),
    ]


def _settle(state: LeaseState, now: float, effects: list[Effect], *, error: str) -> _Out:
    """The end of a refresh: the writer role, the lapse timer, an overdue drop."""
    was_acting = state.was_acting
    acting = state.acting(now)
    overdue = state.holding and not acting
    lapse_armed = state.lapse_armed
    effects = list(effects)
    if acting and error and state.last_renewed is not None:
        # A renew failed while we still act: re-check exactly when the writer role would
        # lapse, not at the next tick (armed only on failure: re-arming it on every
        # successful renew was a measurable cost at 1,000 CRs).
        lapse = state.last_renewed + state.ttl - state.safety_margin
        effects.append(SetTimer(name="lapse", delay=max(0.0, lapse - now)))
        lapse_armed = True
    elif lapse_armed and not error:
        effects.append(CancelTimer(name="lapse"))
        lapse_armed = False
    if was_acting and not acting and overdue:
        effects += [
            Log(
                level="error",
                event="writer_role_dropped",
                fields={"reason": "renew-overdue", "ttl": state.ttl},
            ),
            Emit(
                type=AuditType.LEASE_LOST,
                identity=("overdue", state.held.generation if state.held else 0),
                fields={
                    "fromPrimary": state.region,
                    "reason": "renew-overdue",
                    "message": "no successful renew within ttl - safety margin; "
                    "stopped acting as writer",
                },
            ),
        ]
    state = msgspec.structs.replace(
        state,
        witness_error=error,
        overdue=overdue,
        was_acting=acting,
        lapse_armed=lapse_armed,
        refreshing=False,
    )
    return state, effects
