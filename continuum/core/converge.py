"""Whether the world agrees with the lease holder, and what converges it: a pure rule.

The lease is the truth (issue 13, ``docs/architecture.md``, "Convergence"). On each
observation an instance compares the world with the holder it knows: the CNPG pair (exactly
one Cluster acts as primary, it is the holder's, and it is not fenced), the DNS records the
writer holds (they name the holder) and the HTTPRoute of every region of the pair this
instance reaches (each region's API server holds its own copy; every copy serves the holder's
backends and no other region's). :func:`assess` names each disagreement (:class:`Mismatch`,
with the region of the route it concerns); any instance reports them as its phase and
conditions.

:func:`decide` turns them into :class:`Converge` actions — only for the acting writer, only
while no switchover runs and no journal is open (the run and the journal rule own the world
meanwhile), and only for a disagreement (kind, and route region) also seen by the previous
observation (a transition
another instance is making — its run between the handover and the promotion, say — is not
raced; it is settled by then or it is drift). Every action moves the world towards the holder
and is idempotent, so repeating one after a crash is harmless.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from continuum.messages.switchover import PairHalf, PairState
from continuum.switchover.undrain import restorable, serving_regions

__all__ = [
    "Converge",
    "Mismatch",
    "MismatchKey",
    "MismatchKind",
    "World",
    "assess",
    "decide",
    "other_primary",
    "restorable",
    "serving_regions",
]

MismatchKind = Literal[
    "WriterMismatch", "WriterFenced", "DnsMismatch", "RouteDrained", "RouteSplit", "Unobserved"
]
"""``WriterMismatch``: not exactly one primary, the holder's; ``WriterFenced``: the holder's
Cluster is fenced; ``DnsMismatch``: records name another region; ``RouteDrained``: the route
sends nothing to the holder; ``RouteSplit``: the route also sends to another region;
``Unobserved``: a part this instance should see could not be read (another region's Cluster,
a region's route, the DNS records), so agreement cannot be claimed — reported, never acted on."""


MismatchKey = tuple[MismatchKind, str]
"""What makes two observations' mismatches "the same disagreement": the kind and the region
of the route it concerns ("" for the pair and DNS)."""


class World(msgspec.Struct, frozen=True, kw_only=True):
    """One observation of the world, as one instance made it.

    ``holder``: the lease holder this instance knows ("" when unknown or free: nothing is
    assessed). ``pair``/``dns_wrong``: ``None`` when not configured or not read this time
    (nothing is said about that part). ``dns_wrong``: the hostnames whose records do not name
    the holder. ``routes``: by region, the weights of that region's copy of the route, by
    backend (``<app>-<region>``); absent when not configured or no context reaches that
    region (nothing is said about that copy); ``None`` when the read failed (``Unobserved``).
    ``regions``: the regions of the pair. ``route_records``: by region, the weights recorded
    on that copy by the last drain that left it serving nothing (absent: none recorded).
    """

    holder: str
    regions: tuple[str, ...]
    pair: PairState | None = None
    dns_wrong: tuple[str, ...] | None = None
    dns_unreadable: bool = False
    """The records are configured but could not be read this time: ``Unobserved`` (never
    taken for agreement)."""
    routes: Mapping[str, dict[str, int] | None] = {}
    route_records: Mapping[str, dict[str, int]] = {}


class Mismatch(msgspec.Struct, frozen=True, kw_only=True):
    """One disagreement with the holder; ``region``: the region whose route (or, for
    ``Unobserved``, whose Cluster or route) it concerns, "" otherwise."""

    kind: MismatchKind
    detail: str
    region: str = ""

    @property
    def key(self) -> MismatchKey:
        return (self.kind, self.region)


class Converge(msgspec.Struct, frozen=True, kw_only=True):
    """Bring one part of the world to ``towards`` (the holder).

    * ``promote-holder``: no Cluster is primary; promote ``towards``'s with ``token`` (the
      demotion token the other half published; ``""`` is CNPG's failover path, used only
      when the other half is unreachable or published none) — ``distributed`` says which
      topology (replica-flip: ``spec.replica.enabled`` false);
    * ``demote-other``: the holder's Cluster is a replica (readable, not fenced) while
      exactly one other half — ``region``'s — acts as primary: demote it towards
      ``towards`` (distributed topology: ``spec.replica.primary`` names the holder's
      Cluster, and its demotion token is what ``promote-holder`` then uses once no half is
      primary; replica-flip: ``spec.replica.enabled`` true);
    * ``unfence-holder``: the holder's Cluster is fenced;
    * ``restore-dns``: commit the records naming ``towards``;
    * ``serve-route``: make the route in region ``route_region`` serve ``towards``. With
      ``weights`` (the weights recorded before the drain that left that copy serving nothing,
      when they fit the holder: :func:`restorable`): give every backend its recorded weight,
      in one write. Otherwise, the last resort: ``towards``'s backends at weight 0 get 1,
      then the ``drain`` regions' backends get 0 — in that order, so no moment has every
      backend at 0.
    """

    action: Literal[
        "promote-holder", "demote-other", "unfence-holder", "restore-dns", "serve-route"
    ]
    towards: str
    token: str = ""
    distributed: bool = True
    region: str = ""
    """``demote-other``: the region whose half is demoted."""
    drain: tuple[str, ...] = ()
    route_region: str = ""
    weights: tuple[tuple[str, int], ...] = ()


def assess(world: World) -> tuple[Mismatch, ...]:
    """Every way ``world`` disagrees with its holder (empty: it agrees, or the holder is
    unknown). Agreement is never assumed: a pair whose holder half cannot be read is a
    ``WriterMismatch``; another half (unless its API says it does not exist), a region's
    route copy, or DNS records that cannot be read are ``Unobserved`` (a route copy absent
    from ``routes`` — no context for that region, or no route configured — is not
    assessed)."""
    holder = world.holder
    if not holder:
        return ()
    found: list[Mismatch] = []
    if world.pair is not None:
        mine = world.pair.half(holder)
        primaries = world.pair.acting_primaries()
        if mine is None or not mine.reachable:
            found.append(Mismatch(kind="WriterMismatch", detail=f"{holder}'s Cluster unreadable"))
        elif primaries != [holder]:
            found.append(
                Mismatch(
                    kind="WriterMismatch",
                    detail=f"primary: {', '.join(primaries) or 'none'}; lease: {holder}",
                )
            )
        elif mine.fenced:
            found.append(Mismatch(kind="WriterFenced", detail=f"{holder}'s Cluster is fenced"))
        for half in world.pair.halves:
            # A Cluster the API says does not exist (404) is known not to be primary.
            if half.region != holder and not half.reachable and not half.missing:
                found.append(
                    Mismatch(
                        kind="Unobserved",
                        detail=f"{half.region}'s Cluster unreadable: cannot tell it is not primary",
                        region=half.region,
                    )
                )
    if world.dns_unreadable:
        found.append(
            Mismatch(
                kind="Unobserved", detail=f"DNS records unreadable: cannot tell they name {holder}"
            )
        )
    elif world.dns_wrong:
        found.append(
            Mismatch(
                kind="DnsMismatch",
                detail=f"records not naming {holder}: {', '.join(world.dns_wrong)}",
            )
        )
    for region in _route_order(world):
        weights = world.routes.get(region)
        if weights is None:
            found.append(
                Mismatch(kind="Unobserved", detail=f"route in {region} unreadable", region=region)
            )
            continue
        serving = serving_regions(weights, world.regions)
        if holder not in serving:
            found.append(
                Mismatch(
                    kind="RouteDrained",
                    detail=f"route in {region} sends nothing to {holder}",
                    region=region,
                )
            )
        others = sorted(serving - {holder})
        if others:
            found.append(
                Mismatch(
                    kind="RouteSplit",
                    detail=f"route in {region} also sends to {', '.join(others)}",
                    region=region,
                )
            )
    return tuple(found)


def other_primary(pair: PairState, holder: str) -> PairHalf | None:
    """The half of another region that is the pair's only primary while ``holder``'s half is
    readable and a replica (``None`` otherwise): the writes land there, not on the holder's
    Cluster. It is demoted only once the holder's half is not fenced (``unfence-holder``
    first); an unreadable other half is never taken for one that is not primary."""
    mine = pair.half(holder)
    if mine is None or not mine.reachable or mine.acts_as_primary:
        return None
    primaries = pair.acting_primaries()
    if len(primaries) != 1 or primaries[0] == holder:
        return None
    return pair.half(primaries[0])


def _route_order(world: World) -> list[str]:
    """The regions whose route is observed: the holder's first, then the pair's order, then
    any other region named (never silently dropped)."""
    order = [world.holder, *(r for r in world.regions if r != world.holder)]
    return [r for r in order if r in world.routes] + sorted(set(world.routes) - set(order))


def decide(
    world: World,
    mismatches: tuple[Mismatch, ...],
    *,
    previous: frozenset[MismatchKey],
    acting_region: str,
    quiet: bool,
) -> list[Converge]:
    """The actions converging ``world`` to its holder (module docstring): none unless
    ``acting_region`` (the acting writer's region, "" when this instance does not act) is
    the holder and the world is ``quiet`` (no run, no open journal); only for mismatches
    whose :attr:`Mismatch.key` is in ``previous`` too. One ``serve-route`` per disagreeing
    route, the holder's region's first: the recorded weights when :func:`restorable`, else
    the holder's backends at 1 and the others at 0. A second primary beside the holder's is
    not handled here (see :mod:`continuum.core.observation`, ``demote-stale-primary``); the
    only primary in another region while the holder's half is a replica is demoted
    (``demote-other``, :func:`other_primary`; ``promote-holder`` follows once no half is
    primary), and until the pair has converged DNS and the routes are left where they are
    (they would move every write to a replica: ``docs/decisions.md`` #26)."""
    holder = world.holder
    if not holder or acting_region != holder or not quiet:
        return []
    seen = {m.key for m in mismatches} & previous
    kinds = {kind for kind, _ in seen}
    actions: list[Converge] = []
    pair = world.pair
    other = other_primary(pair, holder) if pair is not None else None
    mine = pair.half(holder) if pair is not None else None
    if other is not None and mine is not None and not mine.fenced and "WriterMismatch" in kinds:
        actions.append(
            Converge(
                action="demote-other",
                towards=holder,
                region=other.region,
                distributed=other.distributed,
            )
        )
    if pair is not None and "WriterMismatch" in kinds and not pair.acting_primaries():
        mine = pair.half(holder)
        if mine is not None and mine.reachable:
            token = next(
                (h.demotion_token for h in pair.halves if h.region != holder and h.reachable),
                "",
            )
            actions.append(
                Converge(
                    action="promote-holder",
                    towards=holder,
                    token=token,
                    distributed=mine.distributed,
                )
            )
    if pair is not None and kinds & {"WriterMismatch", "WriterFenced"}:
        mine = pair.half(holder)
        if mine is not None and mine.reachable and mine.fenced:
            actions.append(Converge(action="unfence-holder", towards=holder))
    if other is not None:
        return actions  # the pair first: traffic follows once the holder's half writes
    if "DnsMismatch" in kinds:
        actions.append(Converge(action="restore-dns", towards=holder))
    for region in _route_order(world):
        weights = world.routes.get(region)
        if weights is None or not seen & {("RouteDrained", region), ("RouteSplit", region)}:
            continue
        record = world.route_records.get(region)
        if restorable(record, weights, regions=world.regions, holder=holder):
            assert record is not None
            actions.append(
                Converge(
                    action="serve-route",
                    towards=holder,
                    route_region=region,
                    weights=tuple(sorted(record.items())),
                )
            )
            continue
        drain = tuple(sorted(serving_regions(weights, world.regions) - {holder}))
        actions.append(
            Converge(action="serve-route", towards=holder, drain=drain, route_region=region)
        )
    return actions
