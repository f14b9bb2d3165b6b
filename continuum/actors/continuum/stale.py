"""Fencing a stale primary once its region answers again.

An unplanned failover runs while the old primary's region is unreachable: its
``cordon-old-primary`` step is skipped, so that region's CNPG Cluster still acts as primary
by its live spec. When the region comes back, nothing else would demote it and the pair
would have two Clusters acting as primary. The writer region's instance (the lease holder,
no switchover running, its own half acting as primary) demotes every other half that still
acts as primary, towards itself, on its next observation.
"""

from __future__ import annotations

from continuum.errors import ContinuumError
from continuum.messages.switchover import PairState
from continuum.ports import Clock, ClusterPair
from continuum.switchover.timeouts import with_timeout

__all__ = ["demote_stale_primaries", "stale_primaries"]


def stale_primaries(state: PairState, *, writer: str) -> list[str]:
    """Regions other than ``writer`` whose readable half acts as primary, when ``writer``'s
    own half is readable and acts as primary (otherwise nothing is stale: a switchover or
    a failover is still under way, and its own steps own the roles)."""
    mine = next((h for h in state.halves if h.region == writer), None)
    if mine is None or mine.error or not mine.acts_as_primary:
        return []
    return [
        half.region
        for half in state.halves
        if half.region != writer and not half.error and half.acts_as_primary
    ]


async def demote_stale_primaries(
    pair: ClusterPair, state: PairState, *, writer: str, clock: Clock, timeout: float
) -> dict[str, str]:
    """Demote every stale primary (see :func:`stale_primaries`) towards ``writer``.

    Distributed topology: ``spec.replica.primary`` is pointed at the writer's Cluster (the
    wait for the demotion token is bounded by ``timeout``; the write itself is what fences).
    Replica-flip topology: ``spec.replica.enabled`` is set. Returns region → outcome
    (``"demoted"`` or the error); never raises for an API failure or a timeout.
    """
    outcomes: dict[str, str] = {}
    halves = {h.region: h for h in state.halves}
    for region in stale_primaries(state, writer=writer):
        half = halves[region]
        try:
            if half.distributed:

                async def demote(target: str = region) -> str:
                    return await pair.demote(target, new_primary=writer)

                await with_timeout(clock, timeout, demote)
            else:

                async def flip(target: str = region) -> None:
                    await pair.set_replica_enabled(target, True)

                await with_timeout(clock, timeout, flip)
            outcomes[region] = "demoted"
        except (ContinuumError, TimeoutError) as exc:
            outcomes[region] = str(exc) or type(exc).__name__
    return outcomes
