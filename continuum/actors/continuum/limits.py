"""Fixed bounds on a ContinuumActor's waits and on its own audit backlog."""

from __future__ import annotations

__all__ = ["AUDIT_BACKLOG", "JOURNAL_ASK_TIMEOUT", "READ_TIMEOUT"]

READ_TIMEOUT = 5.0
"""Seconds (injected clock) any single witness or pair call may take before it counts as
unanswered."""

AUDIT_BACKLOG = 1000
"""The actor's own audit events queued for its pump; past it ``emit`` waits, never drops."""

JOURNAL_ASK_TIMEOUT = 30.0
"""Bound on a run's ask to the actor to persist the journal before a step."""
