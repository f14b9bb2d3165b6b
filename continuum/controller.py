"""The controller process: composes the supervisor, the CR source and the edges.

One instance runs per region (see ``docs/architecture.md``). This module only wires parts
together; each part documents its own guarantees.
"""

from __future__ import annotations

from typing import Protocol

import anyio

from continuum.config import Settings
from continuum.logs import get_logger
from continuum.ports import Clock
from continuum.supervisor import Supervisor

log = get_logger("continuum.controller")


class CRSource(Protocol):
    """Where Continuum CRs come from (the Kubernetes watch, or an in-memory list).

    ``run`` drives ``supervisor`` (spawn on first sight, tell on change, stop on delete)
    until cancelled, and sets ``synced`` once the initial state has been delivered.
    """

    async def run(self, supervisor: Supervisor, synced: anyio.Event) -> None: ...


class EmptyCRSource:
    """A source with no CRs: synced at once, then idle until cancelled."""

    async def run(self, supervisor: Supervisor, synced: anyio.Event) -> None:
        synced.set()
        await anyio.sleep_forever()


async def run_controller(settings: Settings, *, clock: Clock, source: CRSource) -> int:
    """Run the controller until cancelled; return the exit code (0 after a clean stop).

    Raises :class:`~continuum.supervisor.SupervisorEscalation` when an actor exceeded its
    restart budget (the process must exit non-zero so Kubernetes restarts it).
    """
    synced = anyio.Event()
    log.info(
        "controller_starting",
        region=settings.region,
        api_addr=str(settings.api_addr) if settings.api_addr else "",
        metrics_addr=str(settings.metrics_addr) if settings.metrics_addr else "",
    )
    async with (
        Supervisor(clock=clock, shutdown_timeout=settings.shutdown_timeout_seconds) as supervisor,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(source.run, supervisor, synced)
        await synced.wait()
        log.info("controller_ready", actors=len(supervisor.registry))
    return 0
