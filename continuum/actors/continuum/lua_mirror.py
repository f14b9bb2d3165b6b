"""``status.lastLuaRecord`` / ``lastLuaRecordAt``: the LUA records PowerDNS last accepted.

A run commits records at ``flip-dns`` (the target's) and, when it is undone, again at its
compensation (the old writer's). Each successful commit is mirrored in status, so status
always shows what the DNS writer last accepted (controller.md §4.1): the records are the
same pure synthesis the step committed (``records_for`` over the run's plan), stamped with
the actor's clock. Nothing is mirrored for a failed commit or a plan without DNS. The next
status write (the next step's journal, or the run's end) makes it durable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from continuum.messages.status import LuaRecordMirror
from continuum.messages.switchover import StepEvent, StepName
from continuum.switchover.snapshot import SwitchoverPorts, records_for

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["mirror_committed_records"]


def mirror_committed_records(
    actor: ContinuumActor, event: StepEvent, ports: SwitchoverPorts
) -> None:
    """After ``flip-dns`` finished (target region) or was compensated (old writer), set
    ``lastLuaRecord`` to the records committed and ``lastLuaRecordAt`` to now."""
    if event.step != StepName.FLIP_DNS or event.kind not in ("finished", "compensated"):
        return
    plan = event.journal.plan
    if plan.dns is None:
        return
    region = plan.to_region if event.kind == "finished" else plan.from_region
    records = records_for(plan, ports, region)
    actor.status = msgspec.structs.replace(
        actor.status,
        last_lua_record=LuaRecordMirror(records=records),
        last_lua_record_at=actor.clock.now(),
    )
