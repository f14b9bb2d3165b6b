"""The shell of the role re-assert rule (:mod:`continuum.core.roles`): after a change of acting
primary, touch the new primary's managed-role password Secrets through the
:class:`~continuum.ports.RoleSecrets` port, and advance the watermark only once that worked
(a failure is retried on the next observation, and logged once per distinct error)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.core.roles import decide_roles
from continuum.errors import ContinuumError
from continuum.messages.switchover import PairState
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["RolesWatermark", "reassert_roles"]


@dataclass
class RolesWatermark:
    """``asserted_for``: the acting primary (region) whose role Secrets this instance last
    touched (``""``: none since start, so a fresh instance touches once). ``last_error``:
    the failure last logged."""

    asserted_for: str = ""
    last_error: str = ""


async def reassert_roles(actor: ContinuumActor, pair: PairState) -> None:
    """Carry out :func:`~continuum.core.roles.decide_roles` for one observation of ``pair``.
    Nothing without a :class:`~continuum.ports.RoleSecrets` port. Never raises for a failed
    touch."""
    port = actor.collab.roles
    if port is None:
        return
    memory = actor.roles
    memory.asserted_for, touch = decide_roles(
        memory.asserted_for,
        pair,
        region=actor.region,
        acting=actor.acting(),
        run_under_way=actor.running is not None,
    )
    if touch is None:
        return
    if touch.secrets:
        at = actor.clock.now()
        try:
            touched = await with_timeout(
                actor.clock,
                READ_TIMEOUT,
                lambda: port.touch(touch.region, touch.namespace, touch.secrets, at=at),
            )
        except (ContinuumError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
            if error != memory.last_error:
                actor.log.warning("role_secrets_touch_failed", cluster=touch.cluster, error=error)
            memory.last_error = error
            return
        actor.log.info("role_secrets_touched", cluster=touch.cluster, secrets=touched)
    memory.asserted_for = touch.region
    memory.last_error = ""
