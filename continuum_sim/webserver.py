"""One aiohttp application served in this process, for the in-process contract servers.

:class:`LocalWebServer` is what :class:`~continuum_sim.pdm.PdmServer`,
:class:`~continuum_sim.cloudflare_worker.WorkerSim`, the Kubernetes emulator and the demo's
health endpoints share: listen on one port of one or more loopback addresses (port 0 picks a
free one at the first start; a restart keeps it), and stop listening on demand. asyncio only
(aiohttp).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

__all__ = ["LocalWebServer"]


class LocalWebServer:
    """Serves ``app_factory()`` on ``port`` of every address in ``hosts``.

    ``runner_options`` go to :class:`aiohttp.web.AppRunner` (``access_log`` is off unless
    given). A fresh application is built at each start, so handlers keep no per-run state.
    """

    def __init__(
        self,
        app_factory: Callable[[], web.Application],
        *,
        hosts: Sequence[str],
        port: int = 0,
        **runner_options: Any,
    ) -> None:
        if not hosts:
            raise ValueError("LocalWebServer needs at least one address")
        self.hosts = tuple(hosts)
        self.port = port
        self._app_factory = app_factory
        self._runner_options: dict[str, Any] = {"access_log": None, **runner_options}
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen on every address; no-op when listening. The chosen port is in :attr:`port`.

        Raises ``OSError`` when an address cannot be bound; nothing is left listening then.
        """
        if self._runner is not None:
            return
        runner = web.AppRunner(self._app_factory(), **self._runner_options)
        await runner.setup()
        try:
            for host in self.hosts:
                await web.TCPSite(runner, host, self.port).start()
                self.port = int(runner.addresses[0][1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and close open connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
