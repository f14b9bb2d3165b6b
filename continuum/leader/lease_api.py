"""The three calls the elector makes on its Lease (read, create, replace) through
kubernetes-asyncio's ``CoordinationV1Api``, and how a candidate names itself and finds the
Lease's namespace. The shapes are :mod:`continuum.messages.coordination`; no election logic
lives here.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import aiohttp
import msgspec
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from continuum.messages.coordination import LeaseObject, LeaseRecord

__all__ = [
    "FALLBACK_NAMESPACE",
    "NETWORK_ERRORS",
    "LeaseApi",
    "lease_namespace",
    "make_identity",
]

FALLBACK_NAMESPACE: Final = "openova-system"
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
NETWORK_ERRORS: Final = (ApiException, aiohttp.ClientError, OSError, msgspec.DecodeError)
"""What a :class:`LeaseApi` call raises when the server could not be reached or answered
something that is not a Lease (``TimeoutError`` is an ``OSError``)."""


def make_identity(pod_name: str | None = None) -> str:
    """``<pod name>_<8 hex>``: the pod name (default: the host name, which Kubernetes sets
    to it) plus a random suffix, so a restarted container never mistakes the previous
    incarnation's Lease for its own."""
    base = pod_name or socket.gethostname() or "continuum"
    return f"{base}_{uuid.uuid4().hex[:8]}"


def lease_namespace(
    configured: str, *, service_account_file: Path = SERVICE_ACCOUNT_NAMESPACE
) -> str:
    """The namespace of the election Lease: ``configured`` when set, else the pod's own
    (service-account) namespace, else :data:`FALLBACK_NAMESPACE`."""
    if configured:
        return configured
    try:
        own = service_account_file.read_text().strip()
    except OSError:
        own = ""
    return own or FALLBACK_NAMESPACE


class LeaseApi:
    """Read, create and replace the Lease ``namespace/name``.

    Each call returns ``(HTTP status, the Lease as answered or None)``: API statuses are
    values, not exceptions, because the elector decides on them (404 absent, 409 lost the
    compare-and-set). Transport failures raise one of :data:`NETWORK_ERRORS`. Each request is
    bounded by ``request_timeout`` real seconds.
    """

    def __init__(
        self, api: k8s.ApiClient, *, name: str, namespace: str, request_timeout: float
    ) -> None:
        self._leases = k8s.CoordinationV1Api(api)
        self.name = name
        self.namespace = namespace
        self._request_timeout = request_timeout

    async def read(self) -> tuple[int, LeaseObject | None]:
        return await self._call(self._leases.read_namespaced_lease, self.name, self.namespace)

    async def create(self, spec: LeaseRecord) -> tuple[int, LeaseObject | None]:
        """Create the Lease with ``spec`` (409 when it exists: someone else was first)."""
        body = LeaseObject(metadata={"name": self.name, "namespace": self.namespace}, spec=spec)
        return await self._call(
            self._leases.create_namespaced_lease, self.namespace, msgspec.to_builtins(body)
        )

    async def replace(self, lease: LeaseObject) -> tuple[int, LeaseObject | None]:
        """Replace the Lease with ``lease``, conditional on its ``resourceVersion`` (409 when
        someone wrote in between)."""
        return await self._call(
            self._leases.replace_namespaced_lease,
            self.name,
            self.namespace,
            msgspec.to_builtins(lease),
        )

    async def _call(
        self, fn: Callable[..., Awaitable[Any]], *args: Any
    ) -> tuple[int, LeaseObject | None]:
        resp = await fn(*args, _preload_content=False, _request_timeout=self._request_timeout)
        try:
            data: bytes = await resp.read()
            status = int(resp.status)
        finally:
            resp.release()
        if 200 <= status < 300:
            return status, msgspec.json.decode(data, type=LeaseObject)
        return status, None
