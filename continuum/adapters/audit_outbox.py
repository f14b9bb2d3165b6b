"""The durable audit outbox as ConfigMaps (see ``continuum.audit.store``)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from continuum.adapters.kube import RegionClient
from continuum.errors import Conflict, NotFound, Unavailable
from continuum.messages.audit import AuditEvent, OutboxRecord

__all__ = ["GROUP_LABEL", "OUTBOX_LABEL", "ConfigMapOutboxStore"]

OUTBOX_LABEL: Final = "continuum.openova.io/audit-outbox"
"""Label on every outbox ConfigMap; its value is the owner (the controller's region)."""
GROUP_LABEL: Final = "continuum.openova.io/audit-outbox-group"
"""Label naming a record's deletion group (deleted together, one request)."""

_EVENTS_KEY: Final = "events.json"
_ENCODER = msgspec.json.Encoder()
_EVENTS = msgspec.json.Decoder(list[AuditEvent])


class ConfigMapOutboxStore:
    """:class:`OutboxStore` as one ConfigMap per record in ``namespace`` of ``client``'s
    cluster, labelled :data:`OUTBOX_LABEL` = ``owner``.

    The ConfigMap holds ``events.json`` (the events as a JSON list) and, in annotations, the
    record's order keys. A ConfigMap is at most 1 MiB: callers bound a record's size
    (:data:`continuum.audit.durable.MAX_RECORD_BYTES`)."""

    def __init__(self, client: RegionClient, *, namespace: str, owner: str) -> None:
        self._client = client
        self.namespace = namespace
        self.owner = owner

    async def load(self) -> list[OutboxRecord]:
        core = self._client.core
        body = await self._client.call(
            core.list_namespaced_config_map,
            self.namespace,
            label_selector=f"{OUTBOX_LABEL}={self.owner}",
            what=f"list audit outbox in {self.namespace}",
        )
        records = [_decode(item) for item in (body or {}).get("items") or []]
        return sorted(records, key=lambda r: r.order)

    async def write(self, record: OutboxRecord) -> None:
        core = self._client.core
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": record.name,
                "namespace": self.namespace,
                "labels": {
                    OUTBOX_LABEL: self.owner,
                    GROUP_LABEL: record.group,
                    "app.kubernetes.io/component": "audit-outbox",
                    "app.kubernetes.io/managed-by": "continuum",
                },
                "annotations": {
                    "continuum.openova.io/accepted-at-ns": str(record.accepted_at_ns),
                    "continuum.openova.io/seq": str(record.seq),
                },
            },
            "data": {_EVENTS_KEY: _ENCODER.encode(list(record.events)).decode()},
        }
        try:
            await self._client.call(
                core.create_namespaced_config_map,
                self.namespace,
                body,
                what=f"create audit outbox record {record.name}",
                gated=False,
            )
        except Conflict:
            # A retried create whose first answer was lost: the names are unique per
            # incarnation and records are never updated, so the stored one is this one.
            return

    async def delete(self, name: str) -> None:
        core = self._client.core
        try:
            await self._client.call(
                core.delete_namespaced_config_map,
                name,
                self.namespace,
                what=f"delete audit outbox record {name}",
                gated=False,
            )
        except NotFound:
            return

    async def delete_group(self, group: str) -> None:
        core = self._client.core
        await self._client.call(
            core.delete_collection_namespaced_config_map,
            self.namespace,
            label_selector=f"{OUTBOX_LABEL}={self.owner},{GROUP_LABEL}={group}",
            what=f"delete audit outbox group {group}",
            gated=False,
        )


def _decode(item: dict[str, Any]) -> OutboxRecord:
    """A listed ConfigMap as a record. A record that cannot be decoded is an error the
    operator must see (it holds accepted events): raises ``Unavailable`` naming it, so the
    publisher keeps retrying and reports it rather than skipping it."""
    meta = item.get("metadata") or {}
    name = str(meta.get("name", "?"))
    notes = meta.get("annotations") or {}
    try:
        events = _EVENTS.decode(((item.get("data") or {}).get(_EVENTS_KEY) or "[]").encode())
        return OutboxRecord(
            name=name,
            group=str((meta.get("labels") or {}).get(GROUP_LABEL, name)),
            accepted_at_ns=int(notes.get("continuum.openova.io/accepted-at-ns", "0")),
            seq=int(notes.get("continuum.openova.io/seq", "0")),
            events=tuple(events),
        )
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
        raise Unavailable(f"audit outbox record {name} cannot be read: {exc}") from exc
