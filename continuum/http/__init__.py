"""The HTTP edges: the Litestar API (``create_app`` + ``serve_api``) and the metrics endpoint.

It lives inside the package: a top-level ``http`` would shadow the standard library's.
The names are imported on first use, so a process that serves no API (``continuum run``
with ``CONTINUUM_API_ADDR`` empty) never loads Litestar or uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from continuum.http.app import create_app
    from continuum.http.metrics import metrics_app, serve_metrics
    from continuum.http.readiness import Readiness
    from continuum.http.server import ServerFailed, bind_listener, serve_api

__all__ = [
    "Readiness",
    "ServerFailed",
    "bind_listener",
    "create_app",
    "metrics_app",
    "serve_api",
    "serve_metrics",
]

_WHERE = {
    "create_app": "app",
    "metrics_app": "metrics",
    "serve_metrics": "metrics",
    "Readiness": "readiness",
    "ServerFailed": "server",
    "bind_listener": "server",
    "serve_api": "server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
