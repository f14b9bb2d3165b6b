"""The lease record every witness backend stores and returns."""

from __future__ import annotations

from datetime import datetime

import msgspec


class Lease(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One witness slot as last seen.

    ``holder == ""`` means the slot is free (never acquired, or released). ``generation``
    increases by exactly one on every successful write to the slot (acquire, renew, handover,
    release); it is the fencing epoch. Times are UTC and come from the witness's clock.
    """

    key: str
    holder: str = ""
    generation: int = 0
    acquired_at: datetime | None = None
    expires_at: datetime | None = None
    ttl_seconds: float = 30.0

    def is_free_at(self, now: datetime) -> bool:
        """True when nobody holds the slot at ``now`` (free, or expired)."""
        return self.holder == "" or self.expires_at is None or self.expires_at <= now

    def is_held_by(self, holder: str, now: datetime) -> bool:
        """True when ``holder`` holds the slot and it has not expired at ``now``."""
        return self.holder == holder and not self.is_free_at(now)
