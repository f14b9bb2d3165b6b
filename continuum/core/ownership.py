"""Ownership: a CNPG pair, an HTTPRoute and a DNS hostname belong to at most one Continuum.

Two Continuums naming the same pair would both drive it (one promoting what the other just
demoted); two naming the same hostname would publish conflicting LUA records. So every
resource a CR names is a *claim*, and :func:`resolve` gives each claim to exactly one CR.

The order is what every instance of the controller can know and what survives a restart:
``metadata.creationTimestamp``, then ``metadata.uid`` (the API server sets both, once, and
never changes them). CRs are taken in that order; a CR whose claims are all free takes them
all; a CR with any claim already taken takes none and gets a :class:`Conflict` naming the
first CR (in that order) that holds it. The result is a pure function of the set of CRs: the
same CRs give the same owners whatever order they were seen in, and the loser of a conflict
never blocks a third CR (it holds nothing).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from continuum.messages.crd import Continuum, ObjectRefSpec, lease_key
from continuum.messages.status import SWITCHOVER_STEPS
from continuum.messages.switchover import DryRunReport, DryRunStep

__all__ = [
    "Claim",
    "Claimant",
    "Conflict",
    "Ownership",
    "claimant_of",
    "claims_of",
    "conflict_report",
    "resolve",
]

FIELD_PAIR: Final = "spec.cnpgPair"
FIELD_ROUTE: Final = "spec.httpRoute"
FIELD_HOSTNAMES: Final = "spec.luaRecord.hostnames"


@dataclass(frozen=True, order=True)
class Claim:
    """One resource a CR names: ``field`` is the spec path that names it, ``resource`` its
    identity (``namespace/name`` for objects, the lower-case hostname without a trailing dot
    for DNS names)."""

    field: str
    resource: str


@dataclass(frozen=True)
class Claimant:
    """A CR as ownership sees it. ``created`` is None when the API server gave no
    creationTimestamp (such a CR sorts after every dated one)."""

    key: str
    uid: str
    created: datetime | None
    claims: frozenset[Claim]

    def order(self) -> tuple[int, str, str, str]:
        """The precedence key: creationTimestamp, then uid (then the key, for ties)."""
        created = "" if self.created is None else self.created.isoformat()
        return (0 if self.created is not None else 1, created, self.uid, self.key)


@dataclass(frozen=True)
class Conflict:
    """``key`` names ``claim``, which ``owner`` (an earlier CR) already holds."""

    key: str
    owner: str
    claim: Claim

    @property
    def message(self) -> str:
        """One line for the condition, the API and the DryRun blocker."""
        return (
            f"{self.claim.field}: {self.claim.resource} is owned by Continuum {self.owner} "
            "(created earlier); this Continuum never acts while the conflict lasts"
        )


def _object(ref: ObjectRefSpec | None, namespace: str) -> str | None:
    if ref is None:
        return None
    return f"{ref.namespace or namespace}/{ref.name}"


def claims_of(cr: Continuum) -> frozenset[Claim]:
    """Every resource ``cr`` names: its pair, its route, each LUA hostname."""
    namespace = cr.metadata.namespace
    claims: set[Claim] = set()
    pair = _object(cr.spec.cnpg_pair, namespace)
    if pair is not None:
        claims.add(Claim(FIELD_PAIR, pair))
    route = _object(cr.spec.http_route, namespace)
    if route is not None:
        claims.add(Claim(FIELD_ROUTE, route))
    if cr.spec.lua_record is not None:
        for host in cr.spec.lua_record.hostnames:
            claims.add(Claim(FIELD_HOSTNAMES, host.lower().rstrip(".")))
    return frozenset(claims)


def claimant_of(cr: Continuum) -> Claimant:
    """``cr`` as a claimant (key, uid, creationTimestamp, claims)."""
    meta = cr.metadata
    return Claimant(
        key=lease_key(meta.namespace, meta.name),
        uid=meta.uid,
        created=meta.creation_timestamp,
        claims=claims_of(cr),
    )


def resolve(claimants: Iterable[Claimant]) -> dict[str, Conflict]:
    """The conflicts among ``claimants``, by key; a key absent from the result owns every
    resource it names. See the module docstring for the rule."""
    owners: dict[Claim, str] = {}
    conflicts: dict[str, Conflict] = {}
    for claimant in sorted(claimants, key=Claimant.order):
        taken = sorted(c for c in claimant.claims if c in owners)
        if taken:
            conflicts[claimant.key] = Conflict(
                key=claimant.key, owner=owners[taken[0]], claim=taken[0]
            )
            continue
        for claim in claimant.claims:
            owners[claim] = claimant.key
    return conflicts


class Ownership:
    """The conflicts among a changing set of claimants, kept up to date one change at a time.

    After every :meth:`put` and :meth:`remove`, :meth:`get` answers exactly as
    ``resolve(every claimant held)`` would. A change re-resolves only the claimants linked to
    it through shared claims (its connected component, before and after the change), so it
    costs O(that component), not O(every CR): with 10,000 CRs that name distinct resources a
    change touches one. Pure: no I/O, no clock.
    """

    def __init__(self) -> None:
        self._claimants: dict[str, Claimant] = {}
        self._holders: dict[Claim, set[str]] = {}
        self._conflicts: dict[str, Conflict] = {}

    def __contains__(self, key: object) -> bool:
        return key in self._claimants

    def __len__(self) -> int:
        return len(self._claimants)

    def get(self, key: str) -> Conflict | None:
        """The conflict of ``key``, or None when it owns all it names (or is not held)."""
        return self._conflicts.get(key)

    def put(self, claimant: Claimant) -> frozenset[str]:
        """Add ``claimant`` or replace the one of its key. Returns the keys whose conflict may
        have changed (empty when ``claimant`` equals the one held)."""
        old = self._claimants.get(claimant.key)
        if old == claimant:
            return frozenset()
        seeds = set(claimant.claims)
        if old is not None:
            self._unindex(old)
            seeds |= old.claims
        self._claimants[claimant.key] = claimant
        for claim in claimant.claims:
            self._holders.setdefault(claim, set()).add(claimant.key)
        return self._resettle(seeds, {claimant.key})

    def remove(self, key: str) -> frozenset[str]:
        """Forget ``key``. Returns the keys whose conflict may have changed (``key`` among
        them when it was held; empty otherwise)."""
        old = self._claimants.pop(key, None)
        if old is None:
            return frozenset()
        self._unindex(old)
        self._conflicts.pop(key, None)
        return self._resettle(set(old.claims), set()) | {key}

    def _unindex(self, claimant: Claimant) -> None:
        for claim in claimant.claims:
            holders = self._holders.get(claim)
            if holders is not None:
                holders.discard(claimant.key)
                if not holders:
                    del self._holders[claim]

    def _resettle(self, seeds: set[Claim], keys: set[str]) -> frozenset[str]:
        """Re-resolve every claimant reachable from ``seeds`` (and ``keys``) through shared
        claims; components are independent, so the rest keeps its answer."""
        todo = list(seeds)
        seen_claims = set(seeds)
        for key in keys:
            todo.extend(self._claimants[key].claims)
        while todo:
            claim = todo.pop()
            for key in self._holders.get(claim, ()):
                if key in keys:
                    continue
                keys.add(key)
                for other in self._claimants[key].claims:
                    if other not in seen_claims:
                        seen_claims.add(other)
                        todo.append(other)
        found = resolve(self._claimants[k] for k in keys)
        for key in keys:
            conflict = found.get(key)
            if conflict is None:
                self._conflicts.pop(key, None)
            else:
                self._conflicts[key] = conflict
        return frozenset(keys)


def conflict_report(conflict: Conflict, *, generated_at: str) -> DryRunReport:
    """The DryRun of a CR in conflict: blocked at step 1, nothing else evaluated, and no
    fingerprint (nothing can be confirmed)."""
    blocker = f"step-1: {conflict.message}"
    steps = [
        DryRunStep(
            step=number,
            name=name,
            preconditionsMet=False,
            estimatedDurationSeconds=0,
            notes=[conflict.message if number == 1 else "not evaluated: the CR is in conflict"],
        )
        for number, name in enumerate(SWITCHOVER_STEPS, start=1)
    ]
    return DryRunReport(
        planFingerprint="",
        steps=steps,
        estimatedDurationSeconds=0,
        estimatedWriteDisruptionSeconds=0,
        generatedAt=generated_at,
        blockers=[blocker],
    )
