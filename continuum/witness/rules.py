"""The lease rules every backend applies: pure functions from (stored lease, request, now) to
the lease to write, or the error to raise. No I/O, no clock of their own.

Keeping the rules in one place is what makes the five backends agree: a backend only has to
read the slot with a version token, call one of these, and write the result with a
compare-and-set on that token (see :class:`continuum.witness.cas.CasWitness`). The Worker
contract server applies the same rules on its side of the wire.

Clock skew: ``now`` is the deciding party's wall clock. A *taker* (someone other than
the stored holder) only treats a slot as expired once ``now >= expiresAt + skew_margin``, so a
taker whose clock runs up to ``skew_margin`` ahead of the holder's cannot evict a holder that
still believes it holds. The holder side of the bargain (stop acting before ``ttl − safety
margin`` of its own monotonic clock since it *sent* its last successful renew) belongs to the
renewal loop, not to the witness.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from continuum.errors import LeaseHeldByAnother, LeaseLost
from continuum.messages.lease import Lease

__all__ = [
    "decide_acquire",
    "decide_handover",
    "decide_release",
    "decide_renew",
    "is_current",
    "takeable_by",
]


def _expiry(now: datetime, ttl: float) -> datetime:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return now + timedelta(seconds=ttl)


def takeable_by(stored: Lease, holder: str, now: datetime, *, skew_margin: float = 0.0) -> bool:
    """Whether ``holder`` may acquire ``stored`` at ``now``: free, held by ``holder`` itself,
    or expired for at least ``skew_margin`` seconds."""
    if stored.holder in ("", holder) or stored.expires_at is None:
        return True
    return now >= stored.expires_at + timedelta(seconds=skew_margin)


def is_current(stored: Lease, lease: Lease, now: datetime) -> bool:
    """Whether ``lease`` (as the caller last saw it) is still the slot's live lease: same
    holder, same generation, unexpired at ``now``."""
    return (
        lease.holder != ""
        and stored.holder == lease.holder
        and stored.generation == lease.generation
        and stored.is_held_by(lease.holder, now)
    )


def decide_acquire(
    stored: Lease, holder: str, ttl: float, now: datetime, *, skew_margin: float = 0.0
) -> Lease:
    """The lease to write for ``acquire(holder, ttl)`` over ``stored``.

    Same holder and unexpired: an extension (``acquiredAt`` kept). Free or expired (past the
    skew margin): a new tenure starting at ``now``. Raises ``LeaseHeldByAnother`` (with the
    stored holder and expiry) otherwise. ``generation`` is always ``stored + 1``.
    """
    if not holder:
        raise ValueError("holder must be non-empty")
    if not takeable_by(stored, holder, now, skew_margin=skew_margin):
        raise LeaseHeldByAnother(stored.key, stored.holder, stored.expires_at)
    extension = stored.is_held_by(holder, now)
    return Lease(
        key=stored.key,
        holder=holder,
        generation=stored.generation + 1,
        acquired_at=stored.acquired_at if extension else now,
        expires_at=_expiry(now, ttl),
        ttl_seconds=ttl,
    )


def decide_renew(stored: Lease, lease: Lease, now: datetime, *, ttl: float | None = None) -> Lease:
    """The lease to write for ``renew(lease)``: expiry ``now + ttl`` (default the lease's own
    TTL), ``acquiredAt`` kept, generation + 1. Raises ``LeaseLost`` when ``lease`` is not
    current (other holder, other generation, released, or expired at ``now``)."""
    if not is_current(stored, lease, now):
        raise LeaseLost(
            f"lease {lease.key!r} generation {lease.generation} of {lease.holder!r} is no longer"
            f" current (slot: holder {stored.holder!r}, generation {stored.generation})"
        )
    new_ttl = lease.ttl_seconds if ttl is None else ttl
    return Lease(
        key=stored.key,
        holder=stored.holder,
        generation=stored.generation + 1,
        acquired_at=stored.acquired_at,
        expires_at=_expiry(now, new_ttl),
        ttl_seconds=new_ttl,
    )


def decide_handover(
    stored: Lease, lease: Lease, to_holder: str, ttl: float, now: datetime
) -> Lease:
    """The lease to write for ``handover(lease, to_holder, ttl)``: ``to_holder`` holds from
    ``now`` until ``now + ttl``, generation + 1, in the same write that ends ``lease``.
    Handing over to oneself is a renew with ``ttl``. Raises ``LeaseLost`` when ``lease`` is
    not current."""
    if not to_holder:
        raise ValueError("to_holder must be non-empty")
    if to_holder == lease.holder:
        return decide_renew(stored, lease, now, ttl=ttl)
    if not is_current(stored, lease, now):
        raise LeaseLost(
            f"cannot hand over {lease.key!r}: generation {lease.generation} of"
            f" {lease.holder!r} is no longer current"
        )
    return Lease(
        key=stored.key,
        holder=to_holder,
        generation=stored.generation + 1,
        acquired_at=now,
        expires_at=_expiry(now, ttl),
        ttl_seconds=ttl,
    )


def decide_release(stored: Lease, lease: Lease) -> Lease | None:
    """The released shell to write for ``release(lease)``, or ``None`` when there is nothing
    to do (``lease`` is empty, or the slot moved on: other holder or other generation).
    An expired but untouched lease is still released by its holder."""
    if not lease.holder or stored.holder != lease.holder or stored.generation != lease.generation:
        return None
    return Lease(key=stored.key, generation=stored.generation + 1, ttl_seconds=stored.ttl_seconds)
