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
from typing import Final, Protocol

import msgspec

from continuum.errors import Unavailable
from continuum.messages.audit import AuditEvent

__all__ = [
    "GROUP_LABEL",
    "OUTBOX_LABEL",
    "MemoryOutboxStore",
    "OutboxRecord",
    "OutboxStore",
    "record_payload_size",
]

OUTBOX_LABEL: Final = "continuum.openova.io/audit-outbox"
"""Label on every outbox ConfigMap; its value is the owner (the controller's region)."""
GROUP_LABEL: Final = "continuum.openova.io/audit-outbox-group"
"""Label naming a record's deletion group (deleted together, one request)."""


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One durable batch of accepted events, in acceptance order.

    ``order`` sorts records across incarnations: ``(accepted_at_ns, seq)``; a record
    written later by the same incarnation always has a larger ``seq``."""

    name: str
    group: str
    """Deletion group: records are deleted a group at a time, once all are settled."""
    accepted_at_ns: int
    seq: int
    events: tuple[AuditEvent, ...]

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.accepted_at_ns, self.seq, self.name)


class OutboxStore(Protocol):
    """Durable records of accepted, not yet stored, audit events.

    ``write`` returns only once the record is durable; ``write`` of a name that already
    exists with the same content succeeds (a retried create whose answer was lost). ``delete``
    of a missing record succeeds. Every method raises
    :class:`~continuum.errors.ContinuumError` subclasses only (``Unavailable``: retry)."""

    async def load(self) -> list[OutboxRecord]:
        """Every record, sorted by :attr:`OutboxRecord.order`."""
        ...

    async def write(self, record: OutboxRecord) -> None: ...

    async def delete_group(self, group: str) -> None:
        """Delete every record of ``group`` (none left is fine)."""
        ...


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
