"""The HTTP edges: the Litestar API (``create_app`` + ``serve_api``) and the metrics endpoint.

It lives inside the package: a top-level ``http`` would shadow the standard library's.
"""

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
