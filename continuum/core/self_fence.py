"""Self-fencing: what one instance does to its *own* region's Cluster when it is not the writer.

An unplanned failover runs while the old writer's region is cut off: nobody can reach that
region's Cluster to demote it, so it would stay primary beside the new one. The only party
that can always reach it is the instance in the same region. The rule, pure:

* the writer role just lapsed (renewals overdue, or the lease lost) with no switchover run
  under way → **fence** the own Cluster at once (``cnpg.io/fencedInstances``): the same
  moment the instance stops acting, so it never writes without the lease;
* not acting, the own Cluster acts as primary, and the witness answered that another region
  holds the lease (live or expired: its holder is the last writer) → **demote** it towards
  that region's Cluster (it rejoins as a replica), then lift a fence that was on it;
* not acting, the own Cluster acts as primary, and nobody else is known to hold the lease
  (witness unreachable, or the lease free) → **fence** it (if not fenced already);
* acting, and the own Cluster acts as primary but is fenced → **unfence** it (the writer's
  Cluster must take writes; the lease is the truth);
* not acting, the own Cluster is a replica fenced by this instance → **unfence** it (a fenced
  replica does not follow the writer);
* a switchover run or an unfinished journal owns the pair while it is there: **nothing**;
  an unreadable own half: **nothing** (tried again on the next refresh).

Never does I/O, never raises.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from continuum.messages.switchover import PairHalf

__all__ = ["Action", "Inputs", "decide"]


class Inputs(msgspec.Struct, frozen=True, kw_only=True):
    """What the instance knows right after a lease refresh and a read of the pair.

    ``other_holder``: the region other than this one that the witness named as holder in
    this refresh (live or expired), "" when the witness did not answer, the lease is free, or
    it names this region. ``fenced_by_us``: this incarnation fenced the own Cluster.
    """

    region: str
    acting: bool
    run_under_way: bool
    journal_open: bool
    own: PairHalf | None
    other_holder: str
    fenced_by_us: bool


class Action(msgspec.Struct, frozen=True, kw_only=True):
    """``kind``: what to do to the own Cluster; ``towards``: the region whose Cluster a
    demotion follows; ``settled``: no further check is needed until the role changes."""

    kind: Literal["nothing", "fence", "demote", "unfence"]
    towards: str = ""
    settled: bool = False
    why: str = ""


def decide(inputs: Inputs) -> Action:
    """The rule (module docstring)."""
    own = inputs.own
    if inputs.run_under_way or inputs.journal_open:
        return Action(kind="nothing", why="a switchover owns the pair")
    if own is None or not own.reachable:
        return Action(kind="nothing", why="own Cluster unreadable")
    if inputs.acting:
        if own.acts_as_primary and own.fenced:
            return Action(kind="unfence", settled=True, why="the writer's Cluster is fenced")
        return Action(kind="nothing", settled=True, why="acting")
    if own.acts_as_primary:
        if inputs.other_holder:
            return Action(
                kind="demote",
                towards=inputs.other_holder,
                why=f"primary while {inputs.other_holder} holds the lease",
            )
        if not own.fenced:
            return Action(kind="fence", why="primary without holding the lease")
        return Action(kind="nothing", why="fenced; holder unknown")
    if own.fenced and inputs.fenced_by_us:
        return Action(kind="unfence", settled=True, why="a replica fenced by this instance")
    return Action(kind="nothing", settled=True, why="replica")
