"""``nats-kv``: the lease in a NATS JetStream key-value bucket — the cross-region witness.

One bucket entry per slot, value = the lease as JSON (:func:`~continuum.witness.codec.
encode_lease`), compare-and-set on the entry's revision (``kv.create`` for a new slot;
otherwise one request publishing to the key's subject ``$KV.<bucket>.<key>`` with the header
``Nats-Expected-Last-Subject-Sequence: <revision>``: JetStream rejects a stale revision, so of
two concurrent writers exactly one wins). That update is what nats-py's ``KeyValue.update``
sends; it is made here directly, with JetStream's answer decoded by msgspec (:func:`
decode_pub_ack`), because it is every renewal of every CR and the library's path (JSON into a
dict, then a dataclass, then exceptions mapped twice) was a visible share of the controller's
CPU. Expiry lives in the value: nats-server 2.9 has no per-key TTL, and a released slot keeps
its record so the generation never goes backwards.

Linearizable when the bucket's stream is (one server, or a JetStream cluster with R≥3 placed
outside both regions). Any transport failure, timeout or missing bucket surfaces as
``WitnessUnavailable``; a write that timed out may still have landed, which is safe: the caller
does not act on it, and a later compare-and-set on the old revision fails.

Witnesses of the same (url, bucket) share one connection and one KV handle per process
(:mod:`continuum.witness.nats_pool`): a thousand CRs cost one connection, not a thousand.
``aclose`` drops the witness's reference only; the last one closes the connection.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from continuum.errors import WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness.cas import CasConflict, CasWitness
from continuum.witness.codec import decode_lease, encode_lease
from continuum.witness.nats_pool import TRANSPORT_ERRORS, NatsKvPool, SharedKv, default_pool

__all__ = [
    "DEFAULT_BUCKET",
    "NatsKvStore",
    "NatsKvWitness",
    "PubAck",
    "decode_pub_ack",
    "encode_kv_key",
    "open_nats_kv",
]

DEFAULT_BUCKET = "continuum-leases"

EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
"""The JetStream publish header of a compare-and-set on one subject (a KV key's revision)."""

WRONG_LAST_SEQUENCE_CODES = frozenset({10071, 10164})
"""JetStream ``err_code`` of a publish refused for a stale expected sequence
(JSStreamWrongLastSequenceErrF, JSStreamWrongLastSequenceConstantErr)."""


class PubAckError(msgspec.Struct, frozen=True):
    """The ``error`` of a refused JetStream publish."""

    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, frozen=True):
    """JetStream's answer to a publish: the stream and sequence it stored the message at, or
    the ``error`` that refused it. Fields not listed are ignored."""

    stream: str = ""
    seq: int = 0
    error: PubAckError | None = None


_PUB_ACK = msgspec.json.Decoder(PubAck)


def decode_pub_ack(data: bytes) -> PubAck:
    """Decode a JetStream publish answer. Raises ``msgspec.DecodeError`` on anything that is
    not one (a JSON object with the fields of :class:`PubAck` in their types)."""
    return _PUB_ACK.decode(data)


_PLAIN = re.compile(r"[-_a-zA-Z0-9.]")


@functools.lru_cache(maxsize=1 << 16)
def encode_kv_key(slot: str) -> str:
    """A valid, collision-free KV key for ``slot``: characters outside ``[-_.a-zA-Z0-9]``
    (``/`` included) become ``=XX`` (hex of each UTF-8 byte), ``=`` included, so the mapping
    is injective; ``cnpg/dr`` → ``cnpg=2Fdr``. Memoised (the same few slots are encoded on
    every renewal; a regex match per character was ~7 % of a 1,000-CR controller's CPU)."""
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


class NatsKvStore:
    """A :class:`~continuum.witness.cas.SlotStore` over one KV bucket; version = revision.

    Holds one reference to a pooled connection (:class:`~continuum.witness.nats_pool.SharedKv`);
    every call uses the pool's current KV handle, so a connection the pool reopened serves
    this store too.
    """

    def __init__(self, shared: SharedKv) -> None:
        self._shared = shared
        self.bucket = shared.bucket
        self._subject_prefix = f"$KV.{shared.bucket}."

    @property
    def connection(self) -> NatsClient:
        """The (possibly shared) connection currently behind this store."""
        return self._shared.client

    async def load(self, key: str) -> tuple[Lease, int | None]:
        kv = await self._shared.kv()
        try:
            entry = await kv.get(encode_kv_key(key))
        except nats.js.errors.KeyNotFoundError:
            return Lease(key=key), None
        except TRANSPORT_ERRORS as error:
            raise WitnessUnavailable(f"nats-kv {self.bucket}: read {key!r}: {error!r}") from error
        if entry.value is None:
            return Lease(key=key), entry.revision
        try:
            return decode_lease(entry.value), entry.revision
        except msgspec.DecodeError as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: malformed value for {key!r}"
            ) from error

    async def store(self, lease: Lease, *, version: int | None) -> int:
        """Write ``lease`` under ``version`` (see the protocol); returns the new revision."""
        value = encode_lease(lease)
        name = encode_kv_key(lease.key)
        kv = await self._shared.kv()
        client = self._shared.client
        if not client.is_connected:
            # nats-py would buffer the publish and send it after reconnecting: a write that
            # reported failure here must never land later.
            raise WitnessUnavailable(f"nats-kv {self.bucket}: write {lease.key!r}: not connected")
        try:
            if version is None:
                return int(await kv.create(name, value))
            return await self.update(client, name, value, last=version, key=lease.key)
        except nats.js.errors.KeyWrongLastSequenceError as error:
            raise CasConflict(lease.key) from error
        except TRANSPORT_ERRORS as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: write {lease.key!r}: {error!r}"
            ) from error

    async def update(
        self, client: NatsClient, name: str, value: bytes, *, last: int, key: str
    ) -> int:
        """Replace KV entry ``name`` with ``value`` if its revision is still ``last``: one
        request, ``Nats-Expected-Last-Subject-Sequence: last``, bounded by the pool's request
        timeout. Returns the new revision. Raises :class:`CasConflict` when JetStream refused
        the stale revision, ``WitnessUnavailable`` when it refused for another reason, gave no
        answer in time (``nats.errors.TimeoutError``, mapped by the caller), had no stream on
        the subject or answered something that is not a publish acknowledgement."""
        try:
            reply = await client.request(
                self._subject_prefix + name,
                value,
                timeout=self._shared.timeout,
                headers={EXPECTED_LAST_SUBJECT_SEQUENCE: str(last)},
            )
        except nats.errors.NoRespondersError as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: write {key!r}: no stream answers (bucket deleted?)"
            ) from error
        try:
            ack = decode_pub_ack(reply.data)
        except msgspec.DecodeError as error:
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: write {key!r}: not a JetStream ack: {reply.data[:200]!r}"
            ) from error
        if ack.error is not None:
            if ack.error.err_code in WRONG_LAST_SEQUENCE_CODES:
                raise CasConflict(key)
            raise WitnessUnavailable(
                f"nats-kv {self.bucket}: write {key!r}: JetStream refused it:"
                f" {ack.error.code} {ack.error.err_code} {ack.error.description}"
            )
        if ack.seq <= 0:
            raise WitnessUnavailable(f"nats-kv {self.bucket}: write {key!r}: ack without seq")
        return ack.seq

    async def aclose(self) -> None:
        """Release this store's reference (idempotent); never closes a shared connection
        that another witness still uses."""
        await self._shared.release()


class NatsKvWitness(CasWitness[int]):
    """The Witness contract over a JetStream KV bucket (see module docs)."""

    def __init__(self, store: NatsKvStore, *, clock: Clock, skew_margin: float = 0.0) -> None:
        super().__init__(store, clock=clock, skew_margin=skew_margin)
        self.store = store
        """This witness's store (its bucket and connection)."""


async def open_nats_kv(
    url: str | list[str],
    *,
    clock: Clock,
    bucket: str = DEFAULT_BUCKET,
    timeout: float = 2.0,
    skew_margin: float = 0.0,
    replicas: int = 1,
    connect_options: dict[str, Any] | None = None,
    pool: NatsKvPool | None = None,
) -> NatsKvWitness:
    """Return a witness on ``bucket`` (bound, or created when missing) over the connection
    ``pool`` (default: the process-wide :func:`~continuum.witness.nats_pool.default_pool`)
    shares among witnesses of the same url, bucket, timeout and replicas; ``connect_options``
    (nats-py ``connect`` keywords) give the witness a private connection instead.

    ``aclose`` releases the witness's reference; the last one closes the connection. The
    client reconnects forever in the background; while disconnected every call raises
    ``WitnessUnavailable`` within ``timeout`` seconds, and a connection found closed is
    replaced by a fresh one on the next call.

    Raises ``WitnessUnavailable`` when the first connection or the bucket set-up fails.
    """
    shared = await (pool or default_pool()).acquire(
        url, bucket, timeout=timeout, replicas=replicas, connect_options=connect_options
    )
    return NatsKvWitness(NatsKvStore(shared), clock=clock, skew_margin=skew_margin)
