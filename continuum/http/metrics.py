"""The Prometheus endpoint: ``GET /metrics`` on its own listener, serving the project registry.

Only :data:`continuum.metrics.REGISTRY` is exposed (text format, or OpenMetrics when the
scraper asks for it), never the process-global default registry. Any other path is a 404.
"""

from __future__ import annotations

import socket
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, make_asgi_app

from continuum.config import Address
from continuum.http.server import DEFAULT_SHUTDOWN_TIMEOUT, serve_asgi
from continuum.metrics import REGISTRY

METRICS_PATH = "/metrics"


def metrics_app(registry: CollectorRegistry = REGISTRY) -> Any:
    """An ASGI app answering ``GET /metrics`` with ``registry`` and 404 elsewhere."""
    exporter = make_asgi_app(registry=registry)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == METRICS_PATH:
            await exporter(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"not found; try /metrics\n"})

    return app


async def serve_metrics(
    addr: Address | socket.socket,
    *,
    ready: anyio.Event | None = None,
    registry: CollectorRegistry = REGISTRY,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> None:
    """Serve :func:`metrics_app` on ``addr`` until cancelled (see ``serve_asgi``)."""
    await serve_asgi(metrics_app(registry), addr, ready=ready, shutdown_timeout=shutdown_timeout)
