"""The checker of a write workload against the databases of a pair: what happened to the
writes that were acknowledged.

Inputs: the writer's acknowledgements (:class:`Ack`), the rows the final primary holds
(``seq -> region`` of :data:`WRITES_TABLE`), and the role
transitions the CNPG operator carried out (:class:`Transition`, same monotonic clock as the
writer). :func:`check` reports:

* **lost** — acknowledged writes the final primary does not hold (must be 0 for a planned
  switchover; after a region loss, bounded by the replication lag);
* **split-brain** — writes acknowledged by a region whose Cluster had already been demoted
  or fenced (the request was sent after the transition took effect, and the region had not
  been promoted again since), plus writes acknowledged on a timeline *after* the demotion
  token's shutdown-checkpoint LSN (must be 0 everywhere);
* **timeline anomalies** — two regions acknowledging writes on the same timeline, or a
  region's acknowledgements going back to an older timeline;
* **write unavailability** — the longest gap between consecutive acknowledgements (the last
  acknowledged write before it, the first after).

Pure functions over plain data; never touches a server (:func:`read_final` does, once).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from continuum_sim.pginstance import lsn_int

__all__ = ["WRITES_TABLE", "Ack", "Transition", "WriteReport", "check", "read_final"]

WRITES_TABLE = "continuum_writes"
"""The workload's table: ``seq`` (primary key), ``region`` (which instance accepted it)."""

TransitionKind = Literal["demoted", "fenced", "unfenced", "promoted", "lost"]


@dataclass(frozen=True, kw_only=True)
class Ack:
    """One acknowledged write: ``seq`` committed by ``region`` on ``timeline`` at WAL
    position ``lsn`` (read in the writing transaction, so at or before its commit record);
    ``sent``/``acked`` on the monotonic clock."""

    seq: int
    region: str
    timeline: int
    lsn: str
    sent: float
    acked: float


@dataclass(frozen=True, kw_only=True)
class Transition:
    """A role change the operator carried out on ``region``'s instance, ``at`` (monotonic)
    once it took effect. ``demoted`` carries the shutdown checkpoint (timeline, LSN; no LSN
    when the instance had crashed), ``promoted`` the new timeline and the LSN replayed before
    it (where the new timeline forks from the old)."""

    region: str
    kind: TransitionKind
    at: float
    timeline: int = 0
    lsn: str = ""


@dataclass(frozen=True, kw_only=True)
class WriteReport:
    acknowledged: int
    lost: tuple[int, ...]
    split_brain: tuple[int, ...]
    timeline_anomalies: tuple[str, ...]
    pause: float
    """Longest gap between consecutive acknowledgements, seconds."""
    pause_from: int = 0
    """The last write acknowledged before the longest gap (``seq``)."""
    pause_to: int = 0
    """The first write acknowledged after it."""
    committed_unacknowledged: int = 0
    """Writes whose acknowledgement never arrived but which the final primary holds (the
    client cannot know: not an error)."""
    regions: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"writes acknowledged {self.acknowledged}, lost {len(self.lost)}, "
            f"split-brain {len(self.split_brain)}, timeline anomalies "
            f"{len(self.timeline_anomalies)}, longest write pause {self.pause * 1000:.0f} ms"
        )


def check(
    acks: Sequence[Ack],
    final: Mapping[int, str],
    transitions: Iterable[Transition],
    *,
    sent: Iterable[int] = (),
) -> WriteReport:
    """Compare what was acknowledged with what the final primary holds (see the module
    docstring). ``sent``: every seq ever sent (to count committed-but-unacknowledged)."""
    changes = sorted(transitions, key=lambda t: t.at)
    acked = {a.seq for a in acks}
    lost = tuple(sorted(a.seq for a in acks if a.seq not in final))
    split = tuple(sorted({a.seq for a in acks if _after_demotion(a, changes)}))
    ordered = sorted(acks, key=lambda a: a.acked)
    pause, before, after = 0.0, 0, 0
    for prev, nxt in itertools.pairwise(ordered):
        if nxt.acked - prev.acked > pause:
            pause, before, after = nxt.acked - prev.acked, prev.seq, nxt.seq
    regions: dict[str, int] = {}
    for a in acks:
        regions[a.region] = regions.get(a.region, 0) + 1
    return WriteReport(
        acknowledged=len(acks),
        lost=lost,
        split_brain=split,
        timeline_anomalies=tuple(_timeline_anomalies(ordered)),
        pause=pause,
        pause_from=before,
        pause_to=after,
        committed_unacknowledged=sum(1 for s in sent if s not in acked and s in final),
        regions=regions,
    )


def _after_demotion(ack: Ack, changes: Sequence[Transition]) -> bool:
    """Whether ``ack``'s region accepted it while demoted or fenced."""
    writable = True
    for change in changes:
        if change.region != ack.region:
            continue
        same = change.kind == "demoted" and change.timeline == ack.timeline and change.lsn
        if same and lsn_int(ack.lsn) > lsn_int(change.lsn):
            return True  # beyond the shutdown checkpoint the new primary starts from
        if change.at >= ack.sent:
            break
        if change.kind in ("demoted", "fenced"):
            writable = False
        elif change.kind in ("promoted", "unfenced"):
            writable = True
    return not writable


def _timeline_anomalies(ordered: Sequence[Ack]) -> list[str]:
    out: list[str] = []
    owner: dict[int, str] = {}
    latest: dict[str, int] = {}
    for a in ordered:
        first = owner.setdefault(a.timeline, a.region)
        if first != a.region:
            out.append(f"timeline {a.timeline} written by {first} and {a.region} (seq {a.seq})")
            owner[a.timeline] = a.region
        if a.timeline < latest.get(a.region, 0):
            out.append(
                f"{a.region} went back from timeline {latest[a.region]} to {a.timeline}"
                f" (seq {a.seq})"
            )
        latest[a.region] = max(latest.get(a.region, 0), a.timeline)
    return out


async def read_final(dsn: str) -> dict[int, str]:
    """Every row of the writes table on the server at ``dsn``: ``seq -> region``."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(f"SELECT seq, region FROM {WRITES_TABLE}")
    finally:
        await conn.close()
    return {int(r["seq"]): str(r["region"]) for r in rows}
