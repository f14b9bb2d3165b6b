"""Carrying out a :class:`~continuum.core.observation.Converge` that fences a stale primary.

An unplanned failover runs while the old primary's region is unreachable: its
``cordon-old-primary`` step is skipped, so that region's CNPG Cluster still acts as primary
by its live spec. When the region comes back, nothing else would demote it and the pair
would have two Clusters acting as primary. The rule deciding it (the acting writer, no run
under way, its own half primary) is pure, in :mod:`continuum.core.observation`; this module
does the write.
"""

from __future__ import annotations

from continuum.core.observation import Converge, stale_primaries
from continuum.errors import ContinuumError
from continuum.ports import Clock, ClusterPair
from continuum.switchover.timeouts import with_timeout

__all__ = ["converge", "stale_primaries"]


async def converge(pair: ClusterPair, action: Converge, *, clock: Clock, timeout: float) -> str:
    """Demote ``action.region``'s half towards ``action.towards``: distributed topology
    points ``spec.replica.primary`` at the writer's Cluster (the wait for the demotion token
    is bounded by ``timeout``; the write itself is what fences), replica-flip sets
    ``spec.replica.enabled``. Returns ``"demoted"`` or the error; never raises for an API
    failure or a timeout."""
    region, towards = action.region, action.towards
    try:
        if action.distributed:

            async def demote() -> str:
                return await pair.demote(region, new_primary=towards)

            await with_timeout(clock, timeout, demote)
        else:

            async def flip() -> None:
                await pair.set_replica_enabled(region, True)

            await with_timeout(clock, timeout, flip)
    except (ContinuumError, TimeoutError) as exc:
        return str(exc) or type(exc).__name__
    return "demoted"
