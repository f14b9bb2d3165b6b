"""What a deletion of the CR waits for before its finalizer goes: a pure decision
(``docs/decisions.md`` #20; the shell is ``continuum/actors/continuum/finalizing.py``).

Each function returns the waits that apply, in the order they are weighed: the deletion
waits for the first one that still holds. A wait without a ``grace`` holds as long as it
applies; a wait with a ``grace`` kind holds only while that kind's grace lasts
(``continuum/core/deletion_grace.py``: six renewals from its first wait), so what may never
come (a world that cannot be repaired, a region gone) never holds a deletion for good.

* :func:`local`: from what the instance knows without asking anyone — a run under way, an
  open journal, an old primary only this instance would demote, its own Cluster not yet seen
  settled (grace ``own-cluster``), a convergence write under way; as the writer, a world that
  disagrees with the lease (grace ``converge``; ``unobserved`` while part of it cannot be
  read, then ``converge`` for the part it read that still disagrees). A standby (not the
  writer) has more to ask (``ask_holder``);
* :func:`holder_copy`: a standby has read the holder's copy of the CR (the holder closes its
  journal only after a handover): a switchover towards this region under way there, or a
  copy that cannot be read (grace ``copy``; when it ran out, the lease is read anyway);
* :func:`lease_read`: then the lease: unreadable (grace ``witness``), or naming this region,
  live or lapsed (grace ``adopt``: it takes the writer role over and converges first).

What the shell still decides: whether there are copies to read at all (the port), the reads
and their bounds, and the grace bookkeeping itself.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from typing import Final

import msgspec

from continuum.core.deletion_grace import CONVERGE, UNOBSERVED
from continuum.messages.crd import CopyState
from continuum.messages.lease import Lease

__all__ = [
    "ADOPT",
    "COPY",
    "OWN_CLUSTER",
    "WITNESS",
    "DeletionFacts",
    "Local",
    "Wait",
    "holder_copy",
    "lease_read",
    "local",
]

OWN_CLUSTER: Final = "own-cluster"
"""The own Cluster has not been seen settled since the instance last looked."""
COPY: Final = "copy"
"""The holder's copy of the CR cannot be read."""
WITNESS: Final = "witness"
"""The witness cannot be read."""
ADOPT: Final = "adopt"
"""The lease names this region: it takes the writer role over first."""


class Wait(msgspec.Struct, frozen=True, kw_only=True):
    """The deletion waits, because of ``reason``; ``grace``: the kind whose grace bounds the
    wait (``None``: it holds as long as it applies)."""

    reason: str
    grace: str | None = None


class DeletionFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the instance knows of its own state. ``cnpg_pair``: the mechanism is
    ``cnpg-pair`` (only then is there a Cluster to wait for); ``disagreement``: how the world
    disagrees with the lease as last observed ("" when it agrees); ``unobserved``: that
    observation could not read part of it; ``read_disagreement``: then, how the part it
    could read disagrees ("" when it agrees)."""

    region: str
    acting: bool
    cnpg_pair: bool = True
    running_id: str = ""
    journal_id: str = ""
    old_primary_unconfirmed: str = ""
    self_fence_pending: bool = False
    repairing: bool = False
    disagreement: str = ""
    unobserved: bool = False
    read_disagreement: str = ""


class Local(msgspec.Struct, frozen=True, kw_only=True):
    """The waits :func:`local` found, in order; ``ask_holder``: when none holds, a standby
    asks the holder's region (its copy, then the witness) before it lets go."""

    waits: tuple[Wait, ...] = ()
    ask_holder: bool = False


def local(facts: DeletionFacts) -> Local:
    """The waits the instance's own state asks for (see the module docstring). A wait
    without grace ends the list: nothing after it is weighed."""
    if facts.running_id:
        return Local(waits=(Wait(reason=f"switchover {facts.running_id} is running"),))
    if facts.journal_id:
        return Local(waits=(Wait(reason=f"the journal of switchover {facts.journal_id} is open"),))
    if facts.old_primary_unconfirmed and facts.cnpg_pair:
        return Local(
            waits=(
                Wait(
                    reason=f"region {facts.old_primary_unconfirmed}'s Cluster was not cordoned "
                    "by the failover and has not been seen demoted since"
                ),
            )
        )
    waits: list[Wait] = []
    if facts.self_fence_pending and facts.cnpg_pair:
        # The own Cluster may be a stale primary (promoted by a handover this instance never
        # saw, fenced while cut off): only this instance rejoins it as a replica once the
        # witness names the writer (seed 6602).
        waits.append(
            Wait(
                reason=f"region {facts.region}'s Cluster has not been seen settled (a replica, "
                "or the writer's) since this instance last looked",
                grace=OWN_CLUSTER,
            )
        )
    if facts.repairing:
        waits.append(Wait(reason="a convergence write is under way"))
        return Local(waits=tuple(waits))
    if facts.acting:
        # The other regions' routes follow a switchover only by the writer's convergence;
        # what it cannot read it cannot converge: that wait has a grace of its own (seed
        # 541251, core/deletion_grace.py). What it could read and still disagrees it can
        # converge: once that grace ran out it waits for that on its grace to converge (seed
        # 741232: its own route left split by a shift whose answer was lost).
        if facts.disagreement:
            waits.append(
                Wait(
                    reason=f"the world disagrees with the lease ({facts.disagreement})",
                    grace=UNOBSERVED if facts.unobserved else CONVERGE,
                )
            )
        if facts.disagreement and facts.unobserved and facts.read_disagreement:
            waits.append(
                Wait(
                    reason="the world it could read disagrees with the lease "
                    f"({facts.read_disagreement})",
                    grace=CONVERGE,
                )
            )
        return Local(waits=tuple(waits))
    return Local(waits=tuple(waits), ask_holder=True)


def holder_copy(
    *, region: str, holder: str, copy: CopyState | None, error: str
) -> tuple[Wait, ...]:
    """The waits the holder's copy asks for: ``copy`` as read (``None`` with ``error``: it
    could not be read). A switchover there towards ``region`` holds the deletion; an
    unreadable copy holds it for the grace of :data:`COPY`."""
    if copy is None:
        return (Wait(reason=f"region {holder}'s copy cannot be read ({error})", grace=COPY),)
    if copy.exists and copy.journal_to == region:
        return (Wait(reason=f"region {holder} is running a switchover to this region"),)
    return ()


def lease_read(*, region: str, lease: Lease | None, error: str) -> tuple[Wait, ...]:
    """The waits the lease asks for: ``lease`` as read (``None`` with ``error``: the witness
    could not be read; grace :data:`WITNESS`). A lease naming ``region``, live or lapsed,
    holds the deletion for the grace of :data:`ADOPT`."""
    if lease is None:
        return (Wait(reason=f"the witness cannot be read ({error})", grace=WITNESS),)
    if lease.holder == region:
        return (
            Wait(
                reason="the lease names this region: it takes the writer role over first",
                grace=ADOPT,
            ),
        )
    return ()
