"""One kubernetes-asyncio client per region, and the mapping of API errors to domain errors.

Every region of a pair is reached through its own kubeconfig context (``CONTINUUM_KUBECONFIG``
plus the region → context map ``CONTINUUM_REGION_CONTEXTS``). :class:`KubeClients` holds one
:class:`RegionClient` per region; adapters ask it ``for_region(region)``.

Calls go through :meth:`RegionClient.call` (one request, JSON answer decoded with msgspec) or
:meth:`RegionClient.stream` (a watch: one decoded event per line). Both translate every failure
into the small set of :mod:`continuum.errors` with the region in the message:

=========================================  ==============================
what happened                              raised
=========================================  ==============================
404                                        :class:`~continuum.errors.NotFound`
409                                        :class:`~continuum.errors.Conflict`
400, 415, 422 (and other 4xx)              :class:`~continuum.errors.Invalid`
410 (resourceVersion too old)              :class:`WatchExpired`
401, 403                                   :class:`~continuum.errors.KubeError`
429, 5xx, refused, reset, timed out        :class:`~continuum.errors.Unavailable`
a write while the write gate is shut       :class:`~continuum.errors.Unavailable` (not sent)
=========================================  ==============================

kubernetes-asyncio runs on asyncio only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import msgspec
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from continuum import write_gate
from continuum.aclose import AsyncClosing
from continuum.errors import Conflict, Invalid, KubeError, NotFound, Unavailable, WatchExpired

DEFAULT_REQUEST_TIMEOUT = 10.0
_WRITES = ("create_", "patch_", "replace_", "delete_")
"""kubernetes-asyncio's verbs that change objects: the calls the write gate checks."""
"""Seconds one API request may take (a network bound, not a domain timer)."""


def _status_message(body: bytes | str | None) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else the body itself (truncated)."""
    if not body:
        return ""
    raw = body.encode() if isinstance(body, str) else body
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw[:256].decode(errors="replace")
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        return str(decoded["message"])
    return raw[:256].decode(errors="replace")


def error_for_status(status: int, body: bytes | str | None, *, region: str, what: str) -> KubeError:
    """The domain error for an API answer with HTTP ``status`` (see the module table)."""
    detail = _status_message(body)
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    kind: type[KubeError]
    if status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status == 410:
        kind = WatchExpired
    elif status in (401, 403):
        kind = KubeError
    elif status == 429 or status >= 500:
        kind = Unavailable
    elif 400 <= status < 500:
        kind = Invalid
    else:
        kind = KubeError
    return kind(message, region=region, status=status)


@contextmanager
def translate_errors(*, region: str, what: str) -> Iterator[None]:
    """Turn kubernetes-asyncio / aiohttp / socket failures raised inside the block into
    :mod:`continuum.errors` naming ``region`` and ``what``. Domain errors pass unchanged."""
    try:
        yield
    except KubeError:
        raise
    except ApiException as exc:
        status = int(exc.status or 0)
        if status == 0:
            raise Unavailable(f"{what}: {exc.reason}", region=region) from exc
        raise error_for_status(status, exc.body, region=region, what=what) from exc
    except TimeoutError as exc:
        raise Unavailable(f"{what}: timed out", region=region) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise Unavailable(f"{what}: {type(exc).__name__}: {exc}", region=region) from exc


class RegionClient:
    """The API of one region: a kubernetes-asyncio ``ApiClient`` and typed API groups.

    ``request_timeout`` bounds every :meth:`call` (seconds of real network time).
    """

    def __init__(
        self,
        region: str,
        api: k8s.ApiClient,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        self.region = region
        self.api = api
        self.request_timeout = request_timeout
        # kubernetes-asyncio builds its aiohttp session with trust_env=True: every request
        # then re-reads the proxy environment and ~/.netrc (~40 % of the controller's CPU at
        # 1,000 CRs, see docs/benchmarks.md). A proxy for the API server is configured in
        # the kubeconfig/Configuration (``proxy``), which the client still honours.
        session = getattr(api.rest_client, "pool_manager", None)
        if session is not None and hasattr(session, "_trust_env"):
            session._trust_env = False
        self.custom = k8s.CustomObjectsApi(api)
        self.core = k8s.CoreV1Api(api)
        self.coordination = k8s.CoordinationV1Api(api)

    async def call(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        what: str,
        gated: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Call a kubernetes-asyncio API method and return its JSON answer decoded (plain
        dicts and lists, no model objects). Raises the mapped errors of the module table.

        A write (a ``create_``/``patch_``/``replace_``/``delete_`` method) is refused with
        :class:`~continuum.errors.Unavailable`, nothing sent, while the calling task's write
        gate is shut (:mod:`continuum.write_gate`); ``gated=False`` exempts the audit trail's
        own records."""
        if gated and fn.__name__.startswith(_WRITES):
            write_gate.check(
                lambda why: Unavailable(f"{what}: not written: {why}", region=self.region)
            )
        kwargs.setdefault("_request_timeout", self.request_timeout)
        with translate_errors(region=self.region, what=what):
            resp = await fn(*args, _preload_content=False, **kwargs)
            try:
                data = await resp.read()
                status = int(resp.status)
            finally:
                resp.release()
        if not 200 <= status < 300:
            raise error_for_status(status, data, region=self.region, what=what)
        try:
            return msgspec.json.decode(data) if data else None
        except msgspec.DecodeError as exc:
            raise Unavailable(f"{what}: malformed answer", region=self.region) from exc

    async def stream(
        self,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        what: str,
        timeout_seconds: int,
        **kwargs: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        """Open a watch (``watch=True``) and yield each event as a dict (``type``,
        ``object``) until the server ends the stream (after at most ``timeout_seconds``).

        An ``ERROR`` event is raised as its mapped error (410 → :class:`WatchExpired`); a
        broken connection as :class:`~continuum.errors.Unavailable`.
        """
        timeout = aiohttp.ClientTimeout(total=timeout_seconds + self.request_timeout)
        with translate_errors(region=self.region, what=what):
            resp = await fn(
                *args,
                watch=True,
                timeout_seconds=timeout_seconds,
                _preload_content=False,
                _request_timeout=timeout,
                **kwargs,
            )
            try:
                if not 200 <= int(resp.status) < 300:
                    body = await resp.read()
                    raise error_for_status(int(resp.status), body, region=self.region, what=what)
                # Split lines ourselves: readline() caps a line at aiohttp's buffer size,
                # and one event carries a whole object (up to ~1.5 MiB in etcd).
                pending = b""
                async for chunk in resp.content.iter_any():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield self._watch_event(line, what=what)
                if pending.strip():
                    yield self._watch_event(pending, what=what)
            finally:
                resp.release()

    def _watch_event(self, line: bytes, *, what: str) -> dict[str, Any]:
        """One watch line decoded; an ``ERROR`` event raised as its mapped error."""
        try:
            event = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise Unavailable(f"{what}: malformed watch event", region=self.region) from exc
        if not isinstance(event, dict):
            raise Unavailable(f"{what}: malformed watch event", region=self.region)
        if event.get("type") == "ERROR":
            obj = event.get("object") or {}
            raise error_for_status(
                int(obj.get("code") or 500),
                msgspec.json.encode(obj),
                region=self.region,
                what=what,
            )
        return event

    async def aclose(self) -> None:
        """Close the underlying HTTP session."""
        await self.api.close()


class KubeClients(AsyncClosing):
    """One :class:`RegionClient` per region. Use as ``async with`` or call :meth:`aclose`."""

    def __init__(self, clients: Mapping[str, RegionClient]) -> None:
        self._clients = dict(clients)

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str,
        contexts: Mapping[str, str],
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> KubeClients:
        """Build one client per ``{region: context}`` from the kubeconfig at ``path``
        (``context == ""`` = the file's current context). Raises
        :class:`~continuum.errors.Unavailable` naming the region when a context cannot be
        loaded."""
        clients: dict[str, RegionClient] = {}
        try:
            for region, context in contexts.items():
                try:
                    api = await k8s_config.new_client_from_config(
                        config_file=path, context=context or None, persist_config=False
                    )
                except Exception as exc:
                    raise Unavailable(
                        f"cannot load kubeconfig {path!r} context {context!r}: {exc}",
                        region=region,
                    ) from exc
                clients[region] = RegionClient(region, api, request_timeout=request_timeout)
        except BaseException:
            for made in clients.values():
                await made.aclose()
            raise
        return cls(clients)

    @classmethod
    async def from_settings(
        cls,
        *,
        kubeconfig: str,
        region: str,
        region_contexts: Mapping[str, str],
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> KubeClients:
        """The controller's clients: ``region_contexts`` from the kubeconfig file, with this
        instance's ``region`` on the current context when the map does not name it. Without
        a kubeconfig (``""``) only ``region`` is served, from the in-cluster service
        account."""
        if not kubeconfig:
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            api = k8s.ApiClient(configuration=configuration)
            return cls({region: RegionClient(region, api, request_timeout=request_timeout)})
        contexts = dict(region_contexts)
        contexts.setdefault(region, "")
        return await cls.from_kubeconfig(kubeconfig, contexts, request_timeout=request_timeout)

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions served, in configuration order."""
        return tuple(self._clients)

    def for_region(self, region: str) -> RegionClient:
        """The client of ``region``. Raises :class:`~continuum.errors.Unavailable` naming the
        region when no context is configured for it."""
        found = self._clients.get(region)
        if found is None:
            raise Unavailable("no kubeconfig context is configured for this region", region=region)
        return found

    async def aclose(self) -> None:
        """Close every region's client (idempotent)."""
        clients, self._clients = self._clients, {}
        for region_client in clients.values():
            await region_client.aclose()
