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
