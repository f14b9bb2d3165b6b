"""What gives back a route copy that a drain left serving nothing: a pure rule.

A drain that empties a route records the weights it found on the route itself
(``docs/decisions.md`` #22). Two readers give them back: convergence, towards the lease
holder (``continuum/core/converge.py``), and the undo of ``drain-http`` when the drain's
answer never came (its prior weights unknown: a reply lost, or a crash while it or the
shift after it was in flight), towards the run's source region (seed 110649: a rolled-back
failover left its own region's route serving nothing). Both follow one rule: never every
backend at 0.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping

from continuum.messages.switchover import RouteState, backend_in_region

__all__ = ["restorable", "serving_regions", "undo_drain"]


def serving_regions(weights: Mapping[str, int], regions: tuple[str, ...]) -> set[str]:
    """The regions with a backend of non-zero weight."""
    return {
        region
        for region in regions
        if any(w > 0 for b, w in weights.items() if backend_in_region(b, region))
    }


def restorable(
    record: Mapping[str, int] | None,
    weights: Mapping[str, int],
    *,
    regions: tuple[str, ...],
    holder: str,
) -> bool:
    """Whether ``record`` (weights recorded before a drain) can be given back to a copy now
    weighted ``weights`` with ``holder`` holding the lease: it names exactly the backends the
    route has now, and serves ``holder`` and no other region. A record of another holder's
    tenure, or of a route since changed, is not restored."""
    if not record or set(record) != set(weights):
        return False
    return serving_regions(record, regions) == {holder}


def undo_drain(
    route: RouteState, *, regions: tuple[str, ...], towards: str
) -> dict[str, int] | None:
    """The weights that undo a drain of this copy whose answer never came, for a run rolling
    back to ``towards``; ``None``: nothing to undo — the copy still serves ``towards`` (the
    drain did not land), and a record found then may be an older drain's.

    A copy that does not serve ``towards`` — left serving nothing by the drain, or serving
    only the run's target once the shift that follows the drain landed too (seed 311285: a
    rolled-back failover, killed right after its shift, left its own copy serving the target
    while the source stayed primary) — gets the weights recorded before the drain when they
    are :func:`restorable` for ``towards``; otherwise ``towards``'s backends get weight 1 and
    any other serving backend 0, in the same write. Either way the result serves
    ``towards``, never nothing; a copy with no backend of ``towards`` gets ``None`` (nothing
    this undo can make serve)."""
    weights = route.weights
    if towards in serving_regions(weights, regions):
        return None
    if restorable(route.before_drain, weights, regions=regions, holder=towards):
        assert route.before_drain is not None
        return dict(route.before_drain)
    mine = {b: 1 for b in weights if backend_in_region(b, towards)}
    if not mine:
        return None
    others = {b: 0 for b, w in weights.items() if w > 0 and b not in mine}
    return {**mine, **others}
