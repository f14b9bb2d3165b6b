"""Whether this replica should receive API traffic: the answer of ``GET /readyz``.

A replica is ready only when it is the elected leader of its region, its Continuum watch has
completed its initial list, and the audit publisher says it can keep up (outbox under its
limit). Non-leaders are never ready, so the Service sends traffic to the leader only; they
also answer every ``/v1`` route with 503 + ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

NOT_LEADER: Final = "not-leader"
WATCH_NOT_SYNCED: Final = "watch-not-synced"
AUDIT_NOT_READY: Final = "audit-not-ready"


def _always_ready() -> bool:
    return True


class Readiness:
    """Mutable readiness flags, written by the process wiring, read by the API on each request.

    ``is_leader`` is set by leader election (or to True when election is disabled);
    ``watch_synced`` by the supervisor once the initial list of CRs has been applied;
    ``audit_ready`` is called on every readiness check (it must be cheap and never raise —
    if it does raise, the replica reports itself not ready rather than failing the probe).
    """

    def __init__(
        self,
        *,
        is_leader: bool = False,
        watch_synced: bool = False,
        audit_ready: Callable[[], bool] = _always_ready,
    ) -> None:
        self.is_leader = is_leader
        self.watch_synced = watch_synced
        self.audit_ready = audit_ready

    def reasons(self) -> list[str]:
        """Why this replica is not ready (empty when it is), in a fixed order:
        ``not-leader``, ``watch-not-synced``, ``audit-not-ready``."""
        out: list[str] = []
        if not self.is_leader:
            out.append(NOT_LEADER)
        if not self.watch_synced:
            out.append(WATCH_NOT_SYNCED)
        try:
            audit_ok = bool(self.audit_ready())
        except Exception:
            audit_ok = False
        if not audit_ok:
            out.append(AUDIT_NOT_READY)
        return out

    @property
    def ready(self) -> bool:
        """True when :meth:`reasons` is empty."""
        return not self.reasons()
