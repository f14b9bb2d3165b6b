"""``nats-kv``: the lease in a NATS JetStream key-value bucket — the cross-region witness.

One bucket entry per slot, value = the lease as JSON (:func:`~continuum.witness.codec.
encode_lease`), compare-and-set on the entry's revision (``kv.create`` for a new slot,
``kv.update(..., last=revision)`` otherwise: JetStream rejects a stale revision, so of two
concurrent writers exactly one wins). Expiry lives in the value: nats-server 2.9 has no
per-key TTL, and a released slot keeps its record so the generation never goes backwards.

Linearizable when the bucket's stream is (one server, or a JetStream cluster with R≥3 placed
outside both regions). Any transport failure, timeout or missing bucket surfaces as
``WitnessUnavailable``; a write that timed out may still have landed, which is safe: the caller
does not act on it, and a later compare-and-set on the old revision fails.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from continuum.errors import WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness.cas import CasConflict, CasWitness
from continuum.witness.codec import decode_lease, encode_lease

__all__ = ["DEFAULT_BUCKET", "NatsKvStore", "NatsKvWitness", "encode_kv_key", "open_nats_kv"]

DEFAULT_BUCKET = "continuum-leases"

_PLAIN = re.compile(r"[-_a-zA-Z0-9.]")


def encode_kv_key(slot: str) -> str:
    """A valid, collision-free KV key for ``slot``: characters outside ``[-_.a-zA-Z0-9]``
    (``/`` included) become ``=XX`` (hex of each UTF-8 byte), ``=`` included, so the mapping
    is injective; ``cnpg/dr`` → ``cnpg=2Fdr``."""
    out: list[str] = []
    for char in slot:
        if _PLAIN.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"={byte:02X}" for byte in char.encode())
    key = "".join(out)
    if not key or key[0] == "." or key[-1] == ".":
        key = f"={key}="
    return key


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    OSError,
    TimeoutError,
)


class NatsKvStore:
    """A :class:`~continuum.witness.cas.SlotStore` over one KV bucket; version = revision."""

    def __init__(self, nc: NatsClient, kv: KeyValue, *, bucket: str, owns_connection: bool) -> None:
        self._nc = nc
        self._kv = kv
        self.bucket = bucket
        self._owns_connection = owns_connection

    async def load(self, key: str) -> tuple[Lease, int | None]:
        try:
            entry = await self._kv.get(encode_kv_key(key))
        except nats.js.errors.KeyNotFoundError:
            return Lease(key=key), None
        except _TRANSPORT_ERRORS as error:
            raise WitnessUnavailable(f"nats-kv {self.bucket}: read {key!r}: {error!r}") from error
        if entry.value is None:
            return Lease(key=key), entry.revision
        try:
            return decode_lease(entry.value), entry.revision
        except msgspec.DecodeError as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: malformed value for {key!r}"
            ) from error

    async def store(self, lease: Lease, *, version: int | None) -> None:
        value = encode_lease(lease)
        name = encode_kv_key(lease.key)
        try:
            if version is None:
                await self._kv.create(name, value)
            else:
                await self._kv.update(name, value, last=version)
        except nats.js.errors.KeyWrongLastSequenceError as error:
            raise CasConflict(lease.key) from error
        except _TRANSPORT_ERRORS as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: write {lease.key!r}: {error!r}"
            ) from error

    async def aclose(self) -> None:
        if self._owns_connection and not self._nc.is_closed:
            await self._nc.close()


class NatsKvWitness(CasWitness[int]):
    """The Witness contract over a JetStream KV bucket (see module docs)."""


async def open_nats_kv(
    url: str | list[str],
    *,
    clock: Clock,
    bucket: str = DEFAULT_BUCKET,
    timeout: float = 2.0,
    skew_margin: float = 0.0,
    replicas: int = 1,
    connect_options: dict[str, Any] | None = None,
) -> NatsKvWitness:
    """Connect to NATS, bind (or create) ``bucket``, and return a witness that owns the
    connection (closed by ``aclose``). The client reconnects forever in the background; while
    disconnected every call raises ``WitnessUnavailable`` within ``timeout`` seconds.

    Raises ``WitnessUnavailable`` when the first connection or the bucket set-up fails.
    """
    options: dict[str, Any] = {
        "connect_timeout": timeout,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.2,
        "allow_reconnect": True,
    }
    options.update(connect_options or {})
    try:
        nc = await nats.connect(url, **options)
    except _TRANSPORT_ERRORS as error:
        raise WitnessUnavailable(f"nats-kv: cannot connect to {url}: {error!r}") from error
    try:
        js = nc.jetstream(timeout=timeout)
        try:
            kv = await js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(bucket=bucket, history=1, replicas=replicas)
    except _TRANSPORT_ERRORS as error:
        await nc.close()
        raise WitnessUnavailable(f"nats-kv: cannot bind bucket {bucket!r}: {error!r}") from error
    store = NatsKvStore(nc, kv, bucket=bucket, owns_connection=True)
    return NatsKvWitness(store, clock=clock, skew_margin=skew_margin)
