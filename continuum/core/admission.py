"""Whether a confirmed switchover starts: the admission of a switchover request, a pure
decision.

A switchover request is the Confirm button of a DryRun. Admission happens in two stages,
because the DryRun in between is I/O the shell does:

1. before the DryRun (``preview=None``): refused while the CR is being deleted
   (``being-deleted``), while a run is under way (``already-running``), or when this instance
   is not the acting writer (``not-acting``); otherwise :class:`NeedsPreview`;
2. with the DryRun just made (``preview``): the stage-1 refusals again, then refused when the
   target already is the acting primary (``no-op``), when the plan's fingerprint is not the
   one confirmed (``fingerprint-mismatch``), when the DryRun has blockers (``blockers``), or
   when a failback to ``primaryRegion`` needs ``spec.failback.approved`` and lacks it
   (``failback-approval-required``); otherwise :class:`Accepted`.

A failback (a move back to ``primaryRegion``) refused for want of approval is announced
(``continuum-failback-pending``): the refusal says so (``announce_failback``), the shell emits
it (once per generation and direction). One that is accepted goes through the failback gate
(``continuum/core/failback.py``), which announces it first in the ungated mode.

In the shell the ``no-op`` refusal is never reached: the DryRun of a plan whose two regions
are the same already answers 400 (``plan: FromRegion == ToRegion``), and that answer is kept.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = [
    "DELETING_REFUSAL",
    "Accepted",
    "Admission",
    "AdmissionFacts",
    "NeedsPreview",
    "Preview",
    "RefusalReason",
    "Refused",
    "SwitchoverAsk",
    "admit",
    "executed_reason",
]

DELETING_REFUSAL: Final = "being-deleted"
"""The reason of the 409 that refuses a switchover while the CR is being deleted."""

RefusalReason = Literal[
    "being-deleted",
    "already-running",
    "not-acting",
    "no-op",
    "fingerprint-mismatch",
    "blockers",
    "failback-approval-required",
]


class AdmissionFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the instance knows when a request arrives.

    ``key``: the CR's ``namespace/name`` (for the messages); ``acting``: this instance acts
    as the writer now; ``acting_primary``: the region that holds the writer role;
    ``running_id``: the run under way ("" when none); ``require_approval`` / ``approved``:
    ``spec.failback``."""

    key: str
    region: str
    primary_region: str
    acting_primary: str
    acting: bool
    deleting: bool = False
    running_id: str = ""
    require_approval: bool = True
    approved: bool = False


class SwitchoverAsk(msgspec.Struct, frozen=True, kw_only=True):
    """The request: the target, the fingerprint of the DryRun it confirms, why, by whom."""

    to_region: str
    fingerprint: str
    reason: str = ""
    initiated_by: str = ""


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    """The DryRun made for the request: its plan's fingerprint and its blockers."""

    fingerprint: str
    blockers: tuple[str, ...] = ()


class NeedsPreview(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing refuses the request before its DryRun: make it and decide again with it."""


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    """Refused (HTTP 409). ``with_report``: the refusal carries the DryRun that decided it;
    ``announce_failback``: announce the failback awaiting approval before refusing."""

    reason: RefusalReason
    message: str
    with_report: bool = False
    announce_failback: bool = False


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """Start the run ``from_region`` → ``to_region`` with ``reason``
    (:func:`executed_reason`) by ``initiated_by``. ``failback``: a move back to
    ``primaryRegion``, which goes through the failback gate as it starts
    (:class:`continuum.core.failback.Runs`: condition ``FailbackApproval`` True, announced
    first when ungated)."""

    from_region: str
    to_region: str
    reason: str
    initiated_by: str
    failback: bool = False


Admission = NeedsPreview | Refused | Accepted


def executed_reason(*, to_region: str, primary_region: str, requested: str) -> str:
    """The reason a confirmed switchover to ``to_region`` runs with: ``failback`` for a move
    back to ``primary_region``, else ``requested`` or ``operator-requested``. The DryRun
    plans with it too, so the plan Execute runs has the fingerprint that was confirmed."""
    if to_region == primary_region:
        return "failback"
    return requested or "operator-requested"


def _before_preview(facts: AdmissionFacts) -> Refused | None:
    if facts.deleting:
        return Refused(
            reason=DELETING_REFUSAL,
            message=f"{facts.key} is being deleted in {facts.region} "
            "(metadata.deletionTimestamp is set): no new switchover starts; the controller "
            "removes its finalizer once no run is in flight",
        )
    if facts.running_id:
        return Refused(
            reason="already-running", message=f"switchover {facts.running_id} is running"
        )
    if not facts.acting:
        return Refused(
            reason="not-acting",
            message=f"region {facts.region} is not the acting writer; ask the instance of "
            f"{facts.acting_primary}",
        )
    return None


def admit(facts: AdmissionFacts, ask: SwitchoverAsk, preview: Preview | None) -> Admission:
    """The admission of ``ask`` (see the module docstring): :class:`NeedsPreview` only when
    ``preview`` is ``None`` and nothing refuses it yet; otherwise :class:`Refused` with the
    first reason that applies, in the order listed there, or :class:`Accepted`."""
    refused = _before_preview(facts)
    if refused is not None:
        return refused
    if preview is None:
        return NeedsPreview()
    target = ask.to_region
    if target == facts.acting_primary:
        return Refused(
            reason="no-op",
            message=f"{target} is already the acting primary of {facts.key}: nothing to move",
        )
    if preview.fingerprint != ask.fingerprint:
        return Refused(
            reason="fingerprint-mismatch",
            message="the plan changed since it was previewed; review the new DryRun and "
            "confirm again",
            with_report=True,
        )
    if preview.blockers:
        return Refused(reason="blockers", message="; ".join(preview.blockers), with_report=True)
    failback = target == facts.primary_region
    if failback and facts.require_approval and not facts.approved:
        return Refused(
            reason="failback-approval-required",
            message=f"moving the writer back to {facts.primary_region} needs "
            "spec.failback.approved",
            with_report=True,
            announce_failback=True,
        )
    return Accepted(
        from_region=facts.acting_primary,
        to_region=target,
        reason=executed_reason(
            to_region=target, primary_region=facts.primary_region, requested=ask.reason
        ),
        initiated_by=ask.initiated_by or "api",
        failback=failback,
    )
