"""How long a CR deletion waits for what may never come: a pure decision function.

While its copy is being deleted, an instance keeps the finalizer as long as something is in
flight (``continuum/actors/continuum/finalizing.py``, ``docs/decisions.md`` #20). Some of
those waits may never end — the world cannot be repaired (its objects deleted with the
namespace), another region's copy or the witness cannot be read (a region gone) — so each
*kind* of wait has a grace of ``renewals`` renewal periods. The rule:

* the grace of a kind starts at the first wait of that kind and lasts ``renewals`` periods;
  while it lasts the deletion waits (:data:`WAIT`); once it has run out the deletion no
  longer waits for that kind (:data:`RAN_OUT` the first time, so the shell logs it once,
  :data:`SPENT` after) — it still waits for the other kinds, each on its own grace;
* the writer's wait for the world to agree with it (:data:`CONVERGE`) is counted per tenure
  as the writer: it starts over whenever the instance is not acting as the writer
  (:func:`not_acting`). An instance that cannot renew converges nothing; when it takes the
  role back it gets its full grace to converge, instead of letting go at once on a grace
  that ran out while it was cut off (found by the simulator, seed 3279). The deletion stays
  bounded: while not acting, the instance waits on the other kinds, whose graces never
  start over;
* likewise the writer converges nothing it cannot read: while its last observation could not
  read part of the world (a region cut off), it waits for it on the grace of
  :data:`UNOBSERVED`, which never starts over, and its grace to converge starts over
  (:func:`unobserved`): a region that answers again gets the full grace to be converged,
  instead of a grace spent while it was cut off letting go one observation after it answered,
  before a convergence that needs two could repair its route (found by the simulator, seed
  541251). A region gone for good holds the deletion for the grace of :data:`UNOBSERVED`;
  once that grace has run out, the grace to converge no longer starts over: what the writer
  could read and still disagrees (its own route left serving both regions by a shift whose
  answer was lost) is waited for on it, so for at most :data:`UNOBSERVED`'s grace and then
  :data:`CONVERGE`'s (seed 741232: it let go on the unobserved grace with its own route
  split, the cut-off region answering again).

* what the writer could not read, it judges on a fresh look: the grace of :data:`UNOBSERVED`
  runs out only on an observation that began after its deadline (``observed_at``), for at
  most :data:`FRESH_LOOK_PERIODS` renewal periods more. A region that answers again at the
  end of the grace is then converged instead of left as the last look before it saw it
  (found by the simulator, seed 1102859 with deletions: the writer let go on an observation
  made while the other region was cut off, a heal later, with no Cluster primary).

Never does I/O, never reads a clock (``now`` is given), never raises.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = [
    "CONVERGE",
    "FRESH_LOOK",
    "FRESH_LOOK_PERIODS",
    "PER_TENURE",
    "RAN_OUT",
    "SPENT",
    "UNOBSERVED",
    "WAIT",
    "DeletionGrace",
    "Verdict",
    "not_acting",
    "unobserved",
    "waiting",
]

CONVERGE: Final = "converge"
"""The writer waits for the world to agree with the lease."""

UNOBSERVED: Final = "unobserved"
"""The writer waits for a world its last observation could not read all of."""

FRESH_LOOK: Final = frozenset({UNOBSERVED})
"""The kinds whose grace runs out only on an observation begun after its deadline."""

FRESH_LOOK_PERIODS: Final = 2
"""How many renewal periods past its deadline a :data:`FRESH_LOOK` grace waits at most for
that observation (observations are bounded: one begins every cadence)."""

PER_TENURE: Final = frozenset({CONVERGE})
"""The kinds whose grace starts over when the instance stops acting as the writer."""

Verdict = Literal["wait", "ran-out", "spent"]
WAIT: Final = "wait"
"""The grace lasts: the deletion waits."""
RAN_OUT: Final = "ran-out"
"""The grace has just run out (the first call to find it so): the deletion goes on."""
SPENT: Final = "spent"
"""The grace ran out before: the deletion goes on."""


class DeletionGrace(msgspec.Struct, frozen=True, kw_only=True):
    """``until``: per kind whose grace started, the monotonic time it runs out (sorted by
    kind); ``spent``: the kinds whose grace has been found run out."""

    until: tuple[tuple[str, float], ...] = ()
    spent: frozenset[str] = frozenset()

    def deadline(self, kind: str) -> float | None:
        """When the grace of ``kind`` runs out (``None``: not started)."""
        return dict(self.until).get(kind)


def waiting(
    state: DeletionGrace,
    kind: str,
    *,
    now: float,
    period: float,
    renewals: int,
    observed_at: float | None = None,
) -> tuple[DeletionGrace, Verdict]:
    """A deletion would wait for ``kind`` at monotonic time ``now``: the next state and
    whether it waits (see the module docstring). ``period``: the renewal period (seconds);
    ``observed_at``: when the observation the wait rests on began (``None``: none, or not
    an observation)."""
    until = dict(state.until)
    deadline = until.setdefault(kind, now + renewals * period)
    started = msgspec.structs.replace(state, until=tuple(sorted(until.items())))
    if now < deadline:
        return started, WAIT
    stale = kind in FRESH_LOOK and observed_at is not None and observed_at < deadline
    if stale and now < deadline + FRESH_LOOK_PERIODS * period:
        return started, WAIT
    if kind in state.spent:
        return started, SPENT
    return msgspec.structs.replace(started, spent=state.spent | {kind}), RAN_OUT


def not_acting(state: DeletionGrace) -> DeletionGrace:
    """The instance is not acting as the writer: the graces counted per tenure
    (:data:`PER_TENURE`) start over at the next wait."""
    if not any(kind in PER_TENURE for kind, _ in state.until) and not (state.spent & PER_TENURE):
        return state
    return DeletionGrace(
        until=tuple((k, t) for k, t in state.until if k not in PER_TENURE),
        spent=state.spent - PER_TENURE,
    )


def unobserved(state: DeletionGrace) -> DeletionGrace:
    """The writer's last observation could not read part of the world: it converges nothing
    there, so its grace to converge starts over at the next wait on a world it read, as when
    it is not acting (:func:`not_acting`). The wait for what it cannot read is bounded by
    :data:`UNOBSERVED`, which never starts over; once that has run out, the grace to converge
    no longer starts over either, so the wait for what the writer could read and still
    disagrees stays bounded (seed 741232)."""
    if UNOBSERVED in state.spent:
        return state
    return not_acting(state)
