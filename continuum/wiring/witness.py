"""Select and open a witness backend from ``spec.leaseClient`` (kind + config dict).

Kinds, exactly as existing CRs name them: ``in-memory``, ``k8s-lease``, ``nats-kv``,
``cloudflare-kv``, ``dns-quorum``. Config keys are the CRD's camelCase keys
(``LeaseClientConfig.to_witness_config()``), plus a few this module documents per kind.

Secrets: a ``…SecretRef`` is read from the CR's own namespace (the part of the slot
before ``/``), never from a global namespace (a CR must not reach another tenant's Secrets),
through the injected :data:`SecretReader`; values are never logged or put in error messages.

Errors: a configuration problem raises :class:`~continuum.errors.InvalidSpec` naming the
field (``spec.leaseClient.kind`` for an unknown or refused kind); a witness that cannot be
reached while opening raises :class:`~continuum.errors.WitnessUnavailable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from continuum.adapters.powerdns import PowerDnsApi
from continuum.errors import InvalidSpec
from continuum.ports import Clock, Witness
from continuum.witness.cloudflare_kv import CloudflareKvWitness
from continuum.witness.dns_quorum import DnsMember, DnsQuorumStore, DnsQuorumWitness
from continuum.witness.k8s_lease import open_k8s_lease
from continuum.witness.memory import MemoryStore, MemoryWitness
from continuum.witness.nats_kv import DEFAULT_BUCKET, open_nats_kv
from continuum.witness.selection import (
    KINDS,
    SecretReader,
    WitnessOptions,
    check_witness_config,
    shared_memory_store,
)

_FIELD = "spec.leaseClient.config"

__all__ = [
    "KINDS",
    "SecretReader",
    "WitnessOptions",
    "check_witness_config",
    "open_witness",
    "shared_memory_store",
]


@dataclass(frozen=True, kw_only=True)
class _Opening:
    options: WitnessOptions
    clock: Clock
    secret_reader: SecretReader | None


async def open_witness(
    kind: str,
    config: Mapping[str, Any],
    *,
    slot: str,
    options: WitnessOptions,
    clock: Clock,
    secret_reader: SecretReader | None = None,
    memory_store: MemoryStore | None = None,
) -> Witness:
    """Open the backend ``kind`` for ``slot`` (``<ns>/<name>``); expiry is decided by
    ``clock``; ``…SecretRef``s are read through ``secret_reader``; ``in-memory`` uses
    ``memory_store`` (default: the process-wide one). See module docs for errors."""
    check_witness_config(kind, config, options)
    settings = _Opening(options=options, clock=clock, secret_reader=secret_reader)
    if kind == "in-memory":
        store = memory_store or shared_memory_store()
        return MemoryWitness(store, clock=clock, skew_margin=options.skew_margin)
    if kind == "nats-kv":
        url = config.get("url") or settings.options.nats_url
        return await open_nats_kv(
            str(url),
            clock=settings.clock,
            bucket=str(config.get("bucket") or DEFAULT_BUCKET),
            timeout=settings.options.timeout,
            skew_margin=settings.options.skew_margin,
        )
    if kind == "cloudflare-kv":
        base_url = config.get("baseURL") or config.get("workerURL")
        if not base_url:
            raise InvalidSpec(f"{_FIELD}.baseURL", "required for kind cloudflare-kv")
        token = await _secret_or_value(
            config,
            value_key="apiToken",
            ref_key="tokenSecretRef",
            default_key="token",
            slot=slot,
            settings=settings,
        )
        return CloudflareKvWitness(
            base_url=str(base_url), token=token, clock=settings.clock, timeout=10.0
        )
    if kind == "dns-quorum":
        return await _open_dns_quorum(config, slot=slot, settings=settings)
    if kind == "k8s-lease":
        kubeconfig = config.get("kubeconfig") or settings.options.kubeconfig
        namespace = config.get("namespace") or config.get("leaseNamespace")
        return await open_k8s_lease(
            kubeconfig=str(kubeconfig),
            context=config.get("context"),
            namespace=str(namespace or settings.options.lease_namespace),
            clock=settings.clock,
            timeout=settings.options.timeout,
            skew_margin=settings.options.skew_margin,
        )
    raise InvalidSpec("spec.leaseClient.kind", f"not implemented: {kind}")


async def _open_dns_quorum(config: Mapping[str, Any], *, slot: str, settings: _Opening) -> Witness:
    servers = list(config.get("dnsServers") or config.get("resolvers") or [])
    apis = list(config.get("powerdnsAPIs") or [])
    if len(servers) < 3:
        raise InvalidSpec(f"{_FIELD}.resolvers", "dns-quorum needs at least 3 servers")
    if len(apis) != len(servers):
        raise InvalidSpec(
            f"{_FIELD}.powerdnsAPIs",
            "dns-quorum needs one PowerDNS API URL per server, in the same order",
        )
    api_key = await _secret_or_value(
        config,
        value_key="apiKey",
        ref_key="apiKeySecretRef",
        default_key="api-key",
        slot=slot,
        settings=settings,
    )
    members = [
        DnsMember(
            nameserver=str(server),
            api=PowerDnsApi(str(api), api_key, timeout=settings.options.timeout),
        )
        for server, api in zip(servers, apis, strict=True)
    ]
    domain = str(config.get("domain") or "lease.openova.io")
    store = DnsQuorumStore(
        members,
        domain=domain,
        zone=config.get("zone"),
        timeout=min(2.0, settings.options.timeout),
        settle_seconds=float(config.get("settleSeconds", 1.0)),
    )
    await store.ensure_zones()
    return DnsQuorumWitness(store, clock=settings.clock, skew_margin=settings.options.skew_margin)


async def _secret_or_value(
    config: Mapping[str, Any],
    *,
    value_key: str,
    ref_key: str,
    default_key: str,
    slot: str,
    settings: _Opening,
) -> str:
    direct = config.get(value_key)
    if direct:
        return str(direct).strip()
    ref = config.get(ref_key)
    if not isinstance(ref, Mapping) or not ref.get("name"):
        raise InvalidSpec(f"{_FIELD}.{ref_key}", f"{value_key} or {ref_key}.name is required")
    if settings.secret_reader is None:
        raise InvalidSpec(f"{_FIELD}.{ref_key}", "no secret reader configured")
    namespace = slot.split("/", 1)[0] if "/" in slot else ""
    if not namespace:
        raise InvalidSpec(f"{_FIELD}.{ref_key}", f"slot {slot!r} has no namespace")
    with anyio.fail_after(5.0):
        value = await settings.secret_reader(
            namespace, str(ref["name"]), str(ref.get("key") or default_key)
        )
    value = value.strip()
    if not value:
        raise InvalidSpec(f"{_FIELD}.{ref_key}", "the referenced secret value is empty")
    return value
