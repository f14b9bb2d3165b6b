"""``k8s-lease``: the lease as a ``coordination.k8s.io/v1`` Lease, compare-and-set through the
object's ``resourceVersion`` (a 409 means the other writer won).

A cross-region witness ONLY when the cluster it lives in is a third site, reached through its
own kubeconfig context: a Lease in one region's own control plane is invisible to a
standby region whose API server is separate, so it is a local lock, not an arbiter.

Object: ``cw-<readable slot>-<sha256 prefix>`` in ``namespace`` (≤ 253 characters, never
colliding: ``a-b/c`` and ``a/b-c`` differ by hash). Mapping: ``spec.holderIdentity``
= holder (absent when free), ``spec.acquireTime`` = acquiredAt, ``spec.renewTime`` = time of
the write, ``spec.leaseDurationSeconds`` = ⌈ttl⌉. Annotations ``dr.openova.io/generation``,
``dr.openova.io/slot``, ``dr.openova.io/lease-kind: continuum``,
``dr.openova.io/expires-at`` (the exact expiry; readers without it use renewTime +
leaseDurationSeconds, which is never earlier) and ``dr.openova.io/ttl-seconds``; labels
``app.kubernetes.io/managed-by: continuum-controller``, ``openova.io/witness: k8s-lease``.
Other annotations and labels on the object are kept (merged: other tools own them). A
released slot keeps the object with an empty spec, so the generation never goes backwards.

Times are MicroTime (``YYYY-MM-DDTHH:MM:SS.ffffffZ``) from the injected clock. Any API or
transport failure other than a conflict surfaces as ``WitnessUnavailable``; a 404 on create
(the namespace does not exist) as its subclass ``WitnessNamespaceMissing``, never as a lost
compare-and-set. :meth:`K8sLeaseWitness.probe_write` asks the API server for a dry-run write
(``dryRun=All``), so a DryRun learns of a missing namespace or a refused write without writing.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import msgspec
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from continuum.errors import WitnessNamespaceMissing, WitnessUnavailable
from continuum.messages.coordination import (
    LeaseObject,
    LeaseRecord,
    micro_time,
    parse_micro_time,
)
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness.cas import CasConflict, CasWitness

__all__ = ["K8sLeaseStore", "K8sLeaseWitness", "lease_object_name", "open_k8s_lease"]

ANNOTATION_GENERATION = "dr.openova.io/generation"
ANNOTATION_SLOT = "dr.openova.io/slot"
ANNOTATION_KIND = "dr.openova.io/lease-kind"
ANNOTATION_EXPIRES = "dr.openova.io/expires-at"
ANNOTATION_TTL = "dr.openova.io/ttl-seconds"
LABELS = {
    "app.kubernetes.io/managed-by": "continuum-controller",
    "openova.io/witness": "k8s-lease",
}
_MAX_NAME = 253
_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def lease_object_name(slot: str) -> str:
    """``cw-<slot, sanitised>-<12 hex of sha256(slot)>``, a valid DNS subdomain of at most
    253 characters; distinct slots never share a name (up to the hash)."""
    digest = hashlib.sha256(slot.encode()).hexdigest()[:12]
    readable = _UNSAFE.sub("-", slot.lower().replace("/", "-")).strip("-.")
    room = _MAX_NAME - len("cw-") - len(digest) - 1
    readable = readable[:room].strip("-.")
    return f"cw-{readable}-{digest}" if readable else f"cw-{digest}"


@dataclass(frozen=True)
class _Seen:
    """What a write needs from the read: the CAS token and the metadata to merge into."""

    resource_version: str
    annotations: dict[str, str]
    labels: dict[str, str]


def _decode(key: str, obj: LeaseObject) -> Lease:
    annotations = obj.metadata.get("annotations") or {}
    spec = obj.spec
    generation = int(annotations.get(ANNOTATION_GENERATION, "0") or 0)
    if not spec.holder_identity:
        return Lease(key=key, generation=generation)
    duration = spec.lease_duration_seconds or 0
    ttl = float(annotations.get(ANNOTATION_TTL) or duration or 30)
    expires = parse_micro_time(annotations.get(ANNOTATION_EXPIRES))
    renewed = parse_micro_time(spec.renew_time)
    if expires is None and renewed is not None:
        expires = renewed + timedelta(seconds=duration)
    return Lease(
        key=key,
        holder=spec.holder_identity,
        generation=generation,
        acquired_at=parse_micro_time(spec.acquire_time),
        expires_at=expires,
        ttl_seconds=ttl,
    )


class K8sLeaseStore:
    """A :class:`~continuum.witness.cas.SlotStore` over Lease objects in one namespace."""

    def __init__(self, api_client: k8s.ApiClient, *, namespace: str, timeout: float = 5.0) -> None:
        self._api_client = api_client
        self._api = k8s.CoordinationV1Api(api_client)
        self.namespace = namespace
        self._timeout = timeout

    async def load(self, key: str) -> tuple[Lease, _Seen | None]:
        name = lease_object_name(key)
        try:
            # Raw response (no model): the body is decoded as plain JSON below.
            response: Any = await self._api.read_namespaced_lease(
                name, self.namespace, _preload_content=False, _request_timeout=self._timeout
            )
            if response.status == 404:
                return Lease(key=key), None
            if not 200 <= response.status < 300:
                raise ApiException(status=response.status, reason=response.reason)
            obj = msgspec.json.decode(await response.read(), type=LeaseObject)
        except ApiException as error:
            if error.status == 404:
                return Lease(key=key), None
            raise self._unavailable("read", key, error) from error
        except (aiohttp.ClientError, TimeoutError, OSError, msgspec.DecodeError) as error:
            raise self._unavailable("read", key, error) from error
        meta = obj.metadata
        seen = _Seen(
            resource_version=str(meta.get("resourceVersion", "")),
            annotations=dict(meta.get("annotations") or {}),
            labels=dict(meta.get("labels") or {}),
        )
        try:
            return _decode(key, obj), seen
        except (ValueError, TypeError) as error:
            raise self._unavailable("decode", key, error) from error

    async def store(self, lease: Lease, *, version: _Seen | None) -> None:
        name = lease_object_name(lease.key)
        body: Any = self._body(name, lease, version)  # plain builtins, sent as-is
        try:
            await self._write(name, body, create=version is None)
        except ApiException as error:
            if error.status == 404 and version is None:
                raise self._namespace_missing() from error
            if error.status in (404, 409):
                raise CasConflict(lease.key) from error
            raise self._unavailable("write", lease.key, error) from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._unavailable("write", lease.key, error) from error

    async def probe_write(self, key: str) -> None:
        """Ask the API server to validate (``dryRun=All``: nothing is persisted) the write the
        next acquire of ``key`` would send. Raises ``WitnessNamespaceMissing`` for a missing
        namespace and ``WitnessUnavailable`` for any other refusal (403, 422, transport)."""
        lease, seen = await self.load(key)
        name = lease_object_name(key)
        body: Any = self._body(name, lease, seen)
        try:
            await self._write(name, body, create=seen is None, dry_run=True)
        except ApiException as error:
            if error.status == 404:
                raise self._namespace_missing() from error
            if error.status == 409:
                return  # the slot moved since the read: a race, not a refusal
            raise self._unavailable("write (dry-run)", key, error) from error
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise self._unavailable("write (dry-run)", key, error) from error

    async def _write(self, name: str, body: Any, *, create: bool, dry_run: bool = False) -> None:
        extra: dict[str, Any] = {"dry_run": "All"} if dry_run else {}
        if create:
            await self._api.create_namespaced_lease(
                self.namespace, body, _request_timeout=self._timeout, **extra
            )
        else:
            await self._api.replace_namespaced_lease(
                name, self.namespace, body, _request_timeout=self._timeout, **extra
            )

    def _namespace_missing(self) -> WitnessNamespaceMissing:
        return WitnessNamespaceMissing(
            f'k8s-lease: namespace "{self.namespace}" does not exist on the witness cluster; '
            "create it (or set the witness namespace) before a lease can be taken"
        )

    def _body(self, name: str, lease: Lease, seen: _Seen | None) -> dict[str, Any]:
        annotations = dict(seen.annotations) if seen else {}
        annotations.update(
            {
                ANNOTATION_GENERATION: str(lease.generation),
                ANNOTATION_SLOT: lease.key,
                ANNOTATION_KIND: "continuum",
            }
        )
        spec = LeaseRecord()
        if lease.holder and lease.expires_at is not None:
            written = lease.expires_at - timedelta(seconds=lease.ttl_seconds)
            spec = LeaseRecord(
                holder_identity=lease.holder,
                lease_duration_seconds=max(1, math.ceil(lease.ttl_seconds)),
                renew_time=micro_time(written),
                acquire_time=(
                    micro_time(lease.acquired_at) if lease.acquired_at is not None else None
                ),
            )
            annotations[ANNOTATION_EXPIRES] = micro_time(lease.expires_at)
            annotations[ANNOTATION_TTL] = repr(float(lease.ttl_seconds))
        else:
            annotations.pop(ANNOTATION_EXPIRES, None)
            annotations.pop(ANNOTATION_TTL, None)
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "annotations": annotations,
            "labels": {**(seen.labels if seen else {}), **LABELS},
        }
        if seen is not None:
            metadata["resourceVersion"] = seen.resource_version
        body: dict[str, Any] = msgspec.to_builtins(LeaseObject(metadata=metadata, spec=spec))
        return body

    def _unavailable(self, op: str, key: str, error: BaseException) -> WitnessUnavailable:
        status = getattr(error, "status", None)
        detail = f"status {status}" if isinstance(error, ApiException) else repr(error)
        return WitnessUnavailable(f"k8s-lease {op} {self.namespace}/{key!r}: {detail}")

    async def aclose(self) -> None:
        await self._api_client.close()


class K8sLeaseWitness(CasWitness[_Seen]):
    """The Witness contract over Lease objects (see module docs)."""

    def __init__(self, store: K8sLeaseStore, *, clock: Clock, skew_margin: float = 0.0) -> None:
        super().__init__(store, clock=clock, skew_margin=skew_margin)
        self._lease_store = store

    async def probe_write(self, key: str) -> None:
        """See :meth:`K8sLeaseStore.probe_write`. Never writes."""
        await self._lease_store.probe_write(key)


async def open_k8s_lease(
    *,
    kubeconfig: str,
    context: str | None,
    namespace: str,
    clock: Clock,
    timeout: float = 5.0,
    skew_margin: float = 0.0,
) -> K8sLeaseWitness:
    """A witness over the cluster of ``context`` in ``kubeconfig`` (a third-site cluster for
    cross-region use). Owns its API client (closed by ``aclose``). Raises
    ``WitnessUnavailable`` when the kubeconfig cannot be loaded."""
    try:
        api_client = await k8s_config.new_client_from_config(
            config_file=kubeconfig, context=context
        )
    except (k8s_config.ConfigException, OSError) as error:
        raise WitnessUnavailable(
            f"k8s-lease: cannot load kubeconfig context {context!r}"
        ) from error
    store = K8sLeaseStore(api_client, namespace=namespace, timeout=timeout)
    return K8sLeaseWitness(store, clock=clock, skew_margin=skew_margin)
