"""Wire shapes of the lease shared by backends: the JSON value (nats-kv) and the Worker's
``LeaseState`` (cloudflare-kv client and its contract server).
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from continuum.messages.lease import Lease

__all__ = [
    "WorkerState",
    "decode_lease",
    "encode_lease",
    "format_ms",
    "lease_from_worker",
    "lease_to_worker",
    "parse_time",
]

_lease_decoder = msgspec.json.Decoder(Lease)


def encode_lease(lease: Lease) -> bytes:
    """The lease as compact JSON (camelCase keys, RFC 3339 UTC times)."""
    return msgspec.json.encode(lease)


def decode_lease(data: bytes) -> Lease:
    """Inverse of :func:`encode_lease`. Raises ``msgspec.DecodeError`` on a malformed value."""
    return _lease_decoder.decode(data)


def format_ms(when: datetime | None) -> str:
    """ISO-8601 UTC with milliseconds and ``Z`` (``""`` for ``None``), as the Worker writes."""
    if when is None:
        return ""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_time(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp (fractional seconds allowed, ``Z`` or offset); ``""`` is
    ``None``. Raises ``ValueError`` on anything else."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return parsed.astimezone(UTC)


class WorkerState(msgspec.Struct, kw_only=True, omit_defaults=False):
    """The Worker's stored and returned ``LeaseState``. Empty strings mean "not set".

    ``ttlSeconds`` is an additive field (the reference Worker does not store it); readers of
    the reference shape get ``0``.
    """

    holder: str = ""
    acquiredAt: str = ""
    expiresAt: str = ""
    generation: int = 0
    ttlSeconds: float = 0.0


def lease_to_worker(lease: Lease) -> WorkerState:
    return WorkerState(
        holder=lease.holder,
        acquiredAt=format_ms(lease.acquired_at),
        expiresAt=format_ms(lease.expires_at),
        generation=lease.generation,
        ttlSeconds=lease.ttl_seconds if lease.holder else 0.0,
    )


def lease_from_worker(key: str, state: WorkerState) -> Lease:
    """Raises ``ValueError`` on a malformed timestamp."""
    return Lease(
        key=key,
        holder=state.holder,
        generation=state.generation,
        acquired_at=parse_time(state.acquiredAt),
        expires_at=parse_time(state.expiresAt),
        ttl_seconds=state.ttlSeconds or 30.0,
    )
