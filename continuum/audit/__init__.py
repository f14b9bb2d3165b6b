"""The ``AuditPublisher`` actor: audit events to JetStream, in order per CR, never lost quietly.

Callers hand events to :class:`AuditPublisherSink` (the :class:`~continuum.ports.AuditSink`
other actors use). ``emit`` returns once the event is accepted — durable in the outbox store
(``store``, ``durable``) and in the outbox; it never waits on NATS. It waits while the store
fails and while the outbox is full (``outbox_limit`` events accepted and not yet stored):
back-pressure, never a drop (``reconcile-success`` heartbeats are coalesced meanwhile). The
state is visible (``status().full``, ``ready() is False``, one ``audit_outbox_full`` log line
per episode, ``blocked_emitters``).

The actor sends the head event of every CR that has nothing in flight, pipelined across CRs
(``max_in_flight``), and sends a CR's next event only once the previous one is acknowledged
as stored, so per-CR order holds across timeouts, reconnects and server restarts; the
deterministic ``Nats-Msg-Id`` makes every retry of a stored event a duplicate the server
drops. Connection loss fails the in-flight events at once; a repeating ``tick`` (on the
injected clock) expires unanswered publishes (``ack_timeout``), reconnects with exponential
backoff and resumes draining in order.

``AuditDelivered``: :meth:`AuditPublisherSink.delivery_state` tells a ContinuumActor whether
its CR's events are delivered (nothing waiting longer than ``stale_after``, last attempt not
failed). Audit delivery never undoes a data-plane change; it only raises that condition.

The actor runs supervised: a crash is restarted with its outbox intact, within a budget.
Shutdown: :func:`run_audit_publisher` closes the sink, then asks the actor to flush within
``flush_timeout``; what stays undelivered stays in the durable store for the next start.

This module is the public face of the publisher; the parts live beside it:
``protocol`` (options, messages, the transport contract), ``publisher`` (the
actor), ``outbox`` (its per-CR queues), ``gate`` (the back-pressure gate) and
``sink`` (the sink and :func:`run_audit_publisher`), ``store`` (the durable records) and
``durable`` (group commit to them).
"""

from __future__ import annotations

from continuum.audit.protocol import (
    AuditConfigurationError,
    AuditPublisherOptions,
    FlushAudit,
    PublishAudit,
)
from continuum.audit.publisher import AuditPublisher
from continuum.audit.sink import (
    AuditPublisherEscalation,
    AuditPublisherSink,
    run_audit_publisher,
)

__all__ = [
    "AuditConfigurationError",
    "AuditPublisher",
    "AuditPublisherEscalation",
    "AuditPublisherOptions",
    "AuditPublisherSink",
    "FlushAudit",
    "PublishAudit",
    "run_audit_publisher",
]
