"""One aiohttp application served in this process, for the in-process contract servers.

:class:`LocalWebServer` is what :class:`~continuum_sim.pdm.PdmServer`,
:class:`~continuum_sim.cloudflare_worker.WorkerSim`, the Kubernetes emulator and the demo's
health endpoints share: listen on one port of one or more loopback addresses (port 0: the
kernel picks one for the first address at the first start, the others bind the same one; a
restart keeps it), and stop listening on demand. asyncio only
(aiohttp).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

__all__ = ["LocalWebServer"]

_ATTEMPTS = 5


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

        With port 0 the first address gets a port from the kernel; if another process holds
        that port on a later address (``EADDRINUSE``, a deterministic refusal), it starts
        over with a new one (a few times). Raises ``OSError`` when an address cannot be
        bound; nothing is left listening then.
        """
        if self._runner is not None:
            return
        chosen = self.port == 0
        for attempt in range(_ATTEMPTS):
            runner = web.AppRunner(self._app_factory(), **self._runner_options)
            await runner.setup()
            try:
                for host in self.hosts:
                    await web.TCPSite(runner, host, self.port).start()
                    self.port = int(runner.addresses[0][1])
            except OSError as exc:
                await runner.cleanup()
                if not (chosen and exc.errno == errno.EADDRINUSE) or attempt == _ATTEMPTS - 1:
                    if chosen:
                        self.port = 0
                    raise
                self.port = 0
                continue
            except BaseException:
                await runner.cleanup()
                raise
            self._runner = runner
            return

    async def stop(self) -> None:
        """Stop listening and close open connections. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
