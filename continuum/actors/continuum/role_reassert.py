"""The shell of the role re-assert rule (:mod:`continuum.core.roles`): after a change of acting
primary, touch the new primary's managed-role password Secrets through the
:class:`~continuum.ports.RoleSecrets` port, and advance the watermark only once that worked
(a failure is retried on the next observation, and logged once per distinct error).

The decision (:func:`decide_touch`) and the accounting (:func:`roles_touched`) run in the
actor's mailbox when an observation's reads come back; the touch itself (:func:`touch_roles`)
is one of the observation's repair writes, made by a child task
(:mod:`~continuum.actors.continuum.background_observation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.core.roles import TouchRoleSecrets, decide_roles
from continuum.messages.switchover import PairState
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor
    from continuum.actors.continuum.env import Collaborators

__all__ = ["RolesWatermark", "decide_touch", "roles_touched", "touch_roles"]


@dataclass
class RolesWatermark:
    """``asserted_for``: the acting primary (region) whose role Secrets this instance last
    touched (``""``: none since start, so a fresh instance touches once). ``last_error``:
    the failure last logged."""

    asserted_for: str = ""
    last_error: str = ""


def decide_touch(actor: ContinuumActor, pair: PairState) -> TouchRoleSecrets | None:
    """Carry out :func:`~continuum.core.roles.decide_roles` for one observation of ``pair``:
    the watermark it keeps, and the touch to make (``None``: none; a touch without Secrets
    is a success at once). Nothing without a :class:`~continuum.ports.RoleSecrets` port.
    No I/O."""
    if actor.collab.roles is None:
        return None
    memory = actor.roles
    memory.asserted_for, touch = decide_roles(
        memory.asserted_for,
        pair,
        region=actor.region,
        acting=actor.acting(),
        run_under_way=actor.running is not None,
    )
    if touch is not None and not touch.secrets:
        roles_touched(actor, touch, touched=(), error="")
        return None
    return touch


async def touch_roles(
    actor: ContinuumActor, collab: Collaborators, touch: TouchRoleSecrets
) -> tuple[str, ...]:
    """Touch ``touch.secrets`` (bounded by ``READ_TIMEOUT``); the Secrets touched. Raises
    ``ContinuumError`` or ``TimeoutError``. Called from a child task."""
    port = collab.roles
    assert port is not None
    at = actor.clock.now()
    touched = await with_timeout(
        actor.clock,
        READ_TIMEOUT,
        lambda: port.touch(touch.region, touch.namespace, touch.secrets, at=at),
    )
    return tuple(touched)


def roles_touched(
    actor: ContinuumActor, touch: TouchRoleSecrets, *, touched: tuple[str, ...], error: str
) -> None:
    """Account for a touch (``error`` "": made): the watermark advances on success; a
    failure is logged once per distinct error and retried on the next observation."""
    memory = actor.roles
    if error:
        if error != memory.last_error:
            actor.log.warning("role_secrets_touch_failed", cluster=touch.cluster, error=error)
        memory.last_error = error
        return
    if touch.secrets:
        actor.log.info("role_secrets_touched", cluster=touch.cluster, secrets=list(touched))
    memory.asserted_for = touch.region
    memory.last_error = ""
