"""Where accepted audit events live durably until JetStream has stored them.

An :class:`OutboxStore` keeps *records*: one record per group-committed batch of accepted
events (see ``docs/decisions.md``, "Durable audit outbox"). A record is written once, read
back whole on start-up and deleted once every event in it is stored in JetStream; it is never
updated in place. Two implementations:

* ``continuum.adapters.audit_outbox.ConfigMapOutboxStore``: one ConfigMap per record in the
  controller's namespace (the controller has a read-only root filesystem and no volume; the
  API server is the one durable store it always has);
* :class:`MemoryOutboxStore`: a dict, for tests and for a process that has no durable store
  (it survives a publisher restart, never a process restart).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from continuum.errors import Unavailable
from continuum.messages.audit import AuditEvent, OutboxRecord
from continuum.ports import OutboxStore

__all__ = [
    "MemoryOutboxStore",
    "OutboxRecord",
    "OutboxStore",
    "record_payload_size",
]


class MemoryOutboxStore:
    """:class:`OutboxStore` in a dict. ``fail_writes`` / ``fail_deletes`` make the next N
    calls raise ``Unavailable`` (fault injection for tests)."""

    def __init__(self) -> None:
        self.records: dict[str, OutboxRecord] = {}
        self.writes = 0
        self.deletes = 0
        self.fail_writes = 0
        self.fail_deletes = 0

    async def load(self) -> list[OutboxRecord]:
        return sorted(self.records.values(), key=lambda r: r.order)

    async def write(self, record: OutboxRecord) -> None:
        if self.fail_writes:
            self.fail_writes -= 1
            raise Unavailable("outbox store: injected write failure")
        self.records[record.name] = record
        self.writes += 1

    async def delete(self, name: str) -> None:
        if self.fail_deletes:
            self.fail_deletes -= 1
            raise Unavailable("outbox store: injected delete failure")
        self.records.pop(name, None)
        self.deletes += 1

    async def delete_group(self, group: str) -> None:
        if self.fail_deletes:
            self.fail_deletes -= 1
            raise Unavailable("outbox store: injected delete failure")
        for name in [n for n, r in self.records.items() if r.group == group]:
            del self.records[name]
        self.deletes += 1

    def pending_event_ids(self) -> list[str]:
        return [
            e.eventId
            for r in sorted(self.records.values(), key=lambda r: r.order)
            for e in r.events
        ]


_ENCODER = msgspec.json.Encoder()


def record_payload_size(events: Sequence[AuditEvent]) -> int:
    """Bytes ``events`` take as a JSON list (what a record's size bound applies to)."""
    return len(_ENCODER.encode(list(events)))
