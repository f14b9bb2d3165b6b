"""One NATS connection and one KV handle per (servers, bucket) per event loop, shared.

``nats-kv`` witnesses (one per Continuum CR) acquire a :class:`SharedKv` from a
:class:`NatsKvPool` instead of opening their own connection; the pool reference-counts each
connection and closes it when its last user releases. Entries are keyed by the server list,
the bucket, the request timeout and the replica count (witnesses that differ in any of these
never share), and kept per running event loop: a connection is bound to the loop that opened
it, so a later loop (a new test, a restarted runtime) never sees it.

Guarantees:

* concurrent first acquires of one key open exactly one connection (an ``anyio.Lock`` per key);
* a failed acquire takes no reference and leaves no connection behind;
* :meth:`SharedKv.release` is idempotent and never closes a connection another user holds;
* a connection found closed (closed by the client library, or by anyone through
  :attr:`SharedKv.client`) is replaced by a fresh one on the next :meth:`SharedKv.kv` call or
  acquire, for every user at once. While the server is merely unreachable the client
  reconnects by itself in the background and calls time out (``WitnessUnavailable`` upstream).

Acquire with ``connect_options`` gives a private connection (options may hold callbacks, which
cannot be compared), with the same release/reopen semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Any

import anyio
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.kv import KeyValue

from continuum.errors import WitnessUnavailable

__all__ = ["TRANSPORT_ERRORS", "NatsKvPool", "NatsPoolStats", "SharedKv", "default_pool"]

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    OSError,
    TimeoutError,
)
"""Errors of nats-py that mean "the server did not answer" (mapped to WitnessUnavailable)."""


@dataclass(frozen=True)
class _Key:
    servers: tuple[str, ...]
    bucket: str
    timeout: float
    replicas: int


@dataclass(eq=False)
class _Entry:
    key: _Key
    lock: anyio.Lock
    options: dict[str, Any]
    nc: NatsClient
    kv: KeyValue
    pooled: bool
    refs: int = 0


@dataclass(eq=False)
class _LoopState:
    entries: dict[_Key, _Entry] = field(default_factory=dict)
    locks: dict[_Key, anyio.Lock] = field(default_factory=dict)


@dataclass(frozen=True)
class NatsPoolStats:
    """A snapshot of a pool, over every live event loop."""

    connections: int
    """Shared connections currently held (private ones excluded)."""
    references: int
    """Users of those shared connections (witnesses not yet closed)."""
    opened: int
    """Connections opened since the pool was made, reopens and private ones included."""


class SharedKv:
    """One user's reference to a pooled connection and its KV handle."""

    def __init__(self, pool: NatsKvPool, entry: _Entry) -> None:
        self._pool = pool
        self._entry: _Entry | None = entry
        self.bucket = entry.key.bucket
        self.timeout = entry.key.timeout
        """Seconds every request on this connection waits for its answer (the pool's key)."""

    @property
    def client(self) -> NatsClient:
        """The connection currently behind this reference (may change after a reopen)."""
        if self._entry is None:
            raise WitnessUnavailable(f"nats-kv {self.bucket}: connection already released")
        return self._entry.nc

    async def kv(self) -> KeyValue:
        """The live KV handle; reopens the shared connection first if it was closed.

        Raises ``WitnessUnavailable`` after :meth:`release` or when a reopen fails.
        """
        entry = self._entry
        if entry is None:
            raise WitnessUnavailable(f"nats-kv {self.bucket}: connection already released")
        if entry.nc.is_closed:
            await self._pool._reopen(entry)
        return entry.kv

    async def release(self) -> None:
        """Drop this reference (idempotent); the last one closes the connection. Runs to
        completion even when the caller is cancelled; never raises on a close failure."""
        entry, self._entry = self._entry, None
        if entry is not None:
            await self._pool._release(entry)


class NatsKvPool:
    """Reference-counted NATS connections + KV handles (see module docs)."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._opened = 0

    async def acquire(
        self,
        url: str | list[str],
        bucket: str,
        *,
        timeout: float,
        replicas: int = 1,
        connect_options: dict[str, Any] | None = None,
    ) -> SharedKv:
        """A reference to the connection for ``(url, bucket)``: the shared one when it exists,
        else a new connection with ``bucket`` bound (created when missing, ``history=1``).

        ``timeout`` bounds the connect and every JetStream request. Raises
        ``WitnessUnavailable`` when connecting or binding the bucket fails (no reference taken).
        """
        servers = (url,) if isinstance(url, str) else tuple(url)
        key = _Key(servers=servers, bucket=bucket, timeout=timeout, replicas=replicas)
        if connect_options:
            private = await self._new_entry(key, anyio.Lock(), dict(connect_options), pooled=False)
            private.refs = 1
            return SharedKv(self, private)
        state = self._loops.setdefault(asyncio.get_running_loop(), _LoopState())
        lock = state.locks.setdefault(key, anyio.Lock())
        async with lock:
            entry = state.entries.get(key)
            if entry is None:
                entry = await self._new_entry(key, lock, {}, pooled=True)
                state.entries[key] = entry
            elif entry.nc.is_closed:
                await self._reopen_locked(entry)
            entry.refs += 1
            return SharedKv(self, entry)

    def stats(self) -> NatsPoolStats:
        """Counts of shared connections and their users, plus connections ever opened."""
        entries = [entry for state in self._loops.values() for entry in state.entries.values()]
        return NatsPoolStats(
            connections=len(entries),
            references=sum(entry.refs for entry in entries),
            opened=self._opened,
        )

    # --- internals ----------------------------------------------------------------------

    async def _new_entry(
        self, key: _Key, lock: anyio.Lock, options: dict[str, Any], *, pooled: bool
    ) -> _Entry:
        nc, kv = await self._open(key, options)
        return _Entry(key=key, lock=lock, options=options, nc=nc, kv=kv, pooled=pooled)

    async def _open(self, key: _Key, extra: dict[str, Any]) -> tuple[NatsClient, KeyValue]:
        options: dict[str, Any] = {
            "connect_timeout": key.timeout,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.2,
            "allow_reconnect": True,
        }
        options.update(extra)
        nc = NatsClient()
        try:
            # With reconnects enabled nats-py retries a refused first connect forever.
            with anyio.fail_after(key.timeout):
                await nc.connect(list(key.servers), **options)
        except BaseException as error:
            await _close_quietly(nc, timeout=key.timeout)
            if isinstance(error, TRANSPORT_ERRORS):
                raise WitnessUnavailable(
                    f"nats-kv: cannot connect to {list(key.servers)}: {error!r}"
                ) from error
            raise
        self._opened += 1
        try:
            js = nc.jetstream(timeout=key.timeout)
            try:
                kv = await js.key_value(key.bucket)
            except nats.js.errors.BucketNotFoundError:
                # Direct gets (as ``nats kv add`` makes buckets): a read is answered by the
                # stream itself, not queued through the JetStream API with every other
                # request — what a takeover of thousands of CRs, a read each, waits on.
                kv = await js.create_key_value(
                    bucket=key.bucket, history=1, replicas=key.replicas, direct=True
                )
        except BaseException as error:
            await _close_quietly(nc, timeout=key.timeout)
            if isinstance(error, TRANSPORT_ERRORS):
                raise WitnessUnavailable(
                    f"nats-kv: cannot bind bucket {key.bucket!r}: {error!r}"
                ) from error
            raise
        return nc, kv

    async def _reopen(self, entry: _Entry) -> None:
        async with entry.lock:
            if entry.nc.is_closed:
                await self._reopen_locked(entry)

    async def _reopen_locked(self, entry: _Entry) -> None:
        entry.nc, entry.kv = await self._open(entry.key, entry.options)

    async def _release(self, entry: _Entry) -> None:
        with anyio.CancelScope(shield=True):
            async with entry.lock:
                entry.refs -= 1
                if entry.refs > 0:
                    return
                if entry.pooled:
                    for state in self._loops.values():
                        if state.entries.get(entry.key) is entry:
                            del state.entries[entry.key]
                await _close_quietly(entry.nc, timeout=entry.key.timeout)


async def _close_quietly(nc: NatsClient, *, timeout: float) -> None:
    """Close ``nc`` within ``timeout`` seconds, even under cancellation; errors are dropped
    (the connection is unusable either way)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(timeout):
        if not nc.is_closed:
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await nc.close()


_DEFAULT = NatsKvPool()


def default_pool() -> NatsKvPool:
    """The process-wide pool :func:`~continuum.witness.nats_kv.open_nats_kv` uses by default."""
    return _DEFAULT
