"""NATS JetStream for audit events: the stream contract, the publishing transport, the tail.

- :func:`ensure_stream` creates the audit stream (``CATALYST_AUDIT`` by default: file storage,
  7 days, a duplicate window) or verifies an existing one, raising
  :class:`AuditStreamMismatch` with every incompatibility spelled out.
- :class:`JetStreamAuditTransport` is the wire under the ``AuditPublisher`` actor: one
  connection it re-creates itself (nats-py's own reconnect is off, so nothing published on a
  dead connection is replayed behind the publisher's back), pipelined publishes with headers
  and ``Nats-Msg-Id``, each returning only once JetStream acknowledged it.
- :class:`JetStreamAuditTail` answers the ``audit-posted`` health check with an ephemeral
  pull consumer over a bounded look-back window.

asyncio only (nats-py). Every nats-py error is mapped onto :mod:`continuum.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import api as jsapi

from continuum.errors import AuditUnavailable, ContinuumError
from continuum.messages.audit import (
    HEADER_AUDIT_TYPE,
    HEADER_CONTINUUM_NAME,
    AuditAck,
    AuditEvent,
    AuditType,
    audit_headers,
    decode_event,
    encode_event,
    parse_timestamp,
)
from continuum.ports import Clock

__all__ = [
    "AuditStreamMismatch",
    "AuditStreamSpec",
    "JetStreamAuditTail",
    "JetStreamAuditTransport",
    "connect_nats",
    "ensure_stream",
    "stream_problems",
    "subject_covers",
]

log = structlog.get_logger("continuum.audit")

_NATS_ERRORS = (nats.errors.Error, asyncio.TimeoutError, OSError)


class AuditStreamMismatch(ContinuumError):
    """The audit stream exists with a configuration the publisher cannot rely on (or is
    missing and may not be created). The message lists every problem; retrying won't help."""


class AuditStreamSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the audit stream must be. Defaults follow the audit spec's proposal."""

    name: str = "CATALYST_AUDIT"
    """Stream name (``CONTINUUM_AUDIT_STREAM``)."""
    subjects: tuple[str, ...] = ("catalyst.audit",)
    """Subjects the stream captures when this process creates it."""
    max_age: float = 7 * 24 * 3600.0
    """Retention in seconds when created (7 days)."""
    duplicate_window: float = 120.0
    """Server-side de-duplication window for ``Nats-Msg-Id`` when created, seconds."""
    min_duplicate_window: float = 10.0
    """An existing stream with a shorter window is refused: retries would be stored twice."""
    replicas: int = 1
    """Replicas when created (1 on a single server)."""
    create: bool = True
    """Create the stream when missing; ``False``: only verify (platform-owned stream)."""


def subject_covers(pattern: str, subject: str) -> bool:
    """Whether the NATS subject ``pattern`` (``*`` one token, ``>`` the rest) matches the
    literal ``subject``."""
    pat, sub = pattern.split("."), subject.split(".")
    for index, token in enumerate(pat):
        if token == ">":
            return len(sub) > index
        if index >= len(sub) or (token != "*" and token != sub[index]):
            return False
    return len(pat) == len(sub)


def stream_problems(config: jsapi.StreamConfig, spec: AuditStreamSpec, subject: str) -> list[str]:
    """Every reason an existing stream cannot hold audit events published to ``subject``
    with de-duplication and acknowledgements; empty when it can."""
    problems: list[str] = []
    subjects = list(config.subjects or [])
    if not any(subject_covers(pattern, subject) for pattern in subjects):
        problems.append(f"its subjects {subjects} do not cover {subject!r}")
    window = config.duplicate_window or 0.0
    if window < spec.min_duplicate_window:
        problems.append(
            f"its duplicate window ({window:g}s) is shorter than {spec.min_duplicate_window:g}s"
            " (retried publishes could be stored twice)"
        )
    if config.no_ack:
        problems.append("it does not acknowledge publishes (no_ack)")
    if config.retention not in (None, jsapi.RetentionPolicy.LIMITS):
        problems.append(
            f"its retention is {config.retention!s} (events would be removed once consumed;"
            " the audit store needs limits retention)"
        )
    if config.sealed:
        problems.append("it is sealed (read-only)")
    return problems


async def ensure_stream(js: Any, spec: AuditStreamSpec, *, subject: str) -> jsapi.StreamInfo:
    """Create the audit stream, or verify the existing one; return its info.

    Raises :class:`AuditStreamMismatch` (stream incompatible, missing while ``spec.create``
    is false, or its subjects clash with another stream) and :class:`AuditUnavailable`
    (JetStream unreachable or disabled). Never modifies an existing stream.
    """
    try:
        try:
            info = await js.stream_info(spec.name)
        except nats.js.errors.NotFoundError:
            if not spec.create:
                raise AuditStreamMismatch(
                    f"audit stream {spec.name!r} does not exist and creating it is disabled"
                ) from None
            try:
                info = await js.add_stream(
                    name=spec.name,
                    subjects=list(spec.subjects),
                    storage=jsapi.StorageType.FILE,
                    retention=jsapi.RetentionPolicy.LIMITS,
                    max_age=spec.max_age,
                    duplicate_window=spec.duplicate_window,
                    num_replicas=spec.replicas,
                )
            except nats.js.errors.BadRequestError as exc:
                # Another creator (a second replica or region starting at the same instant)
                # may have won the race: its stream is verified like any existing one.
                try:
                    info = await js.stream_info(spec.name)
                except nats.js.errors.NotFoundError:
                    raise AuditStreamMismatch(
                        f"cannot create audit stream {spec.name!r} with subjects"
                        f" {list(spec.subjects)}: {exc.description or exc}"
                    ) from exc
            else:
                log.info("audit_stream_created", stream=spec.name, subjects=list(spec.subjects))
                return info  # type: ignore[no-any-return]
    except (nats.js.errors.ServiceUnavailableError, *_NATS_ERRORS) as exc:
        if isinstance(exc, AuditStreamMismatch):
            raise
        raise AuditUnavailable(f"JetStream unavailable checking {spec.name!r}: {exc!r}") from exc
    problems = stream_problems(info.config, spec, subject)
    if problems:
        raise AuditStreamMismatch(
            f"audit stream {spec.name!r} exists but is incompatible: " + "; ".join(problems)
        )
    if info.config.storage == jsapi.StorageType.MEMORY:
        log.warning("audit_stream_in_memory", stream=spec.name)
    return info  # type: ignore[no-any-return]


async def connect_nats(
    url: str,
    *,
    name: str,
    connect_timeout: float = 2.0,
    on_closed: Callable[[], Awaitable[None]] | None = None,
) -> NatsClient:
    """One connection attempt to ``url`` without nats-py's automatic reconnect (a lost
    connection closes; the owner reconnects). Raises :class:`AuditUnavailable`."""

    async def closed() -> None:
        if on_closed is not None:
            await on_closed()

    async def quiet(_: Exception) -> None:
        return None  # failures surface through publish results and the closed callback

    try:
        client: NatsClient = await nats.connect(
            servers=[url],
            name=name,
            connect_timeout=max(1, round(connect_timeout)),
            allow_reconnect=False,
            # nats-py retries the initial connect inside one call unless the attempts are
            # bounded (0 means "forever" there): at most two quick tries, then we decide.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.01,
            closed_cb=closed,
            error_cb=quiet,
        )
    except (*_NATS_ERRORS, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError):
            raise
        why = "no answer" if isinstance(exc, nats.errors.NoServersError) else repr(exc)
        raise AuditUnavailable(f"cannot connect to NATS at {url}: {why}") from exc
    return client


class JetStreamAuditTransport:
    """Publishes audit events to one JetStream stream, acknowledged, de-duplicated.

    ``setup()`` (idempotent) connects and ensures the stream; ``publish()`` may run many at
    once (pipelined on the one connection) and returns only after the stream stored the
    event (or reported it a duplicate). The caller orders publishes; this class never
    retries and never buffers across connections.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: AuditStreamSpec | None = None,
        subject: str = "catalyst.audit",
        name: str = "continuum-audit",
        connect_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.stream = stream or AuditStreamSpec()
        self.subject = subject
        self._name = name
        self._connect_timeout = connect_timeout
        self._nc: NatsClient | None = None
        self._js: Any = None
        self._stream_ok = False
        self._on_down: Callable[[], Awaitable[None]] | None = None
        self._setup_lock = asyncio.Lock()

    def on_down(self, listener: Callable[[], Awaitable[None]] | None) -> None:
        """Call ``listener`` whenever the connection is lost (once per connection)."""
        self._on_down = listener

    @property
    def connected(self) -> bool:
        """True when connected and the stream has been verified on this connection."""
        return self._nc is not None and self._nc.is_connected and self._stream_ok

    async def setup(self) -> None:
        """Connect if needed and create/verify the stream. Raises :class:`AuditUnavailable`
        (try again later) or :class:`AuditStreamMismatch` (configuration error).

        Concurrent calls run one at a time: the second finds the first's connection and
        verified stream instead of opening its own."""
        async with self._setup_lock:
            await self._setup()

    async def _setup(self) -> None:
        if self._nc is None or self._nc.is_closed:
            self._stream_ok = False
            self._nc = await connect_nats(
                self.url,
                name=self._name,
                connect_timeout=self._connect_timeout,
                on_closed=self._closed,
            )
            self._js = self._nc.jetstream()
        if not self._stream_ok:
            await ensure_stream(self._js, self.stream, subject=self.subject)
            self._stream_ok = True

    async def publish(self, event: AuditEvent) -> AuditAck:
        """Publish ``event`` and wait for JetStream's ack (no timeout here: the caller bounds
        the wait and cancels). Raises :class:`AuditUnavailable` on any failure."""
        js = self._js
        if not self.connected or js is None:
            raise AuditUnavailable(f"not connected to NATS at {self.url}")
        try:
            future = await js.publish_async(
                self.subject,
                encode_event(event),
                stream=self.stream.name,
                headers=audit_headers(event),
            )
            try:
                ack = await future
            finally:
                future.cancel()  # no-op once done; frees nats-py's slot when cancelled
        except (nats.js.errors.APIError, *_NATS_ERRORS) as exc:
            if isinstance(exc, nats.js.errors.NoStreamResponseError | nats.js.errors.APIError):
                self._stream_ok = False  # deleted or reconfigured: verify again before next
            raise AuditUnavailable(f"publish to {self.subject!r} failed: {exc!r}") from exc
        return AuditAck(seq=int(ack.seq), duplicate=bool(ack.duplicate))

    async def publish_many(self, events: Sequence[AuditEvent]) -> list[AuditAck | str]:
        """Publish ``events`` back to back on the connection (in this order) and wait for
        every ack; per event its :class:`AuditAck` or the error text. Cancelling abandons
        the outstanding acks. Never raises for a single event's failure."""
        js = self._js
        if not self.connected or js is None:
            return [f"not connected to NATS at {self.url}"] * len(events)
        futures: list[asyncio.Future[Any]] = []
        results: list[AuditAck | str] = []
        try:
            for event in events:
                try:
                    futures.append(
                        await js.publish_async(
                            self.subject,
                            encode_event(event),
                            stream=self.stream.name,
                            headers=audit_headers(event),
                        )
                    )
                except (nats.js.errors.APIError, *_NATS_ERRORS) as exc:
                    failure = f"publish to {self.subject!r} failed: {exc!r}"
                    return [
                        *(await self._collect(futures)),
                        *[failure] * (len(events) - len(futures)),
                    ]
            results = await self._collect(futures)
        finally:
            for future in futures:
                future.cancel()  # no-op once done; frees nats-py's slot when abandoned
        return results

    async def _collect(self, futures: list[asyncio.Future[Any]]) -> list[AuditAck | str]:
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        results: list[AuditAck | str] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                if isinstance(
                    outcome, nats.js.errors.APIError | nats.js.errors.NoStreamResponseError
                ):
                    self._stream_ok = False  # deleted or reconfigured: verify again
                results.append(f"publish to {self.subject!r} failed: {outcome!r}")
            else:
                results.append(AuditAck(seq=int(outcome.seq), duplicate=bool(outcome.duplicate)))
        return results

    async def aclose(self) -> None:
        """Close the connection (pending acks are abandoned). Idempotent."""
        nc, self._nc = self._nc, None
        self._stream_ok = False
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(*_NATS_ERRORS):
                await nc.close()

    async def _closed(self) -> None:
        self._stream_ok = False
        if self._on_down is not None:
            await self._on_down()


class JetStreamAuditTail:
    """:class:`continuum.ports.AuditTail` over the audit stream.

    Each :meth:`find` creates an ephemeral pull consumer filtered on the audit subject,
    starting at ``since`` but never earlier than ``now − lookback`` (the bound on how much of
    the stream one query reads), reads up to the stream's last message at the time of the
    call, filters on headers before decoding bodies, and deletes the consumer.
    """

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        stream: str = "CATALYST_AUDIT",
        subject: str = "catalyst.audit",
        lookback: float = 300.0,
        timeout: float = 2.0,
        batch: int = 256,
    ) -> None:
        self.url = url
        self._clock = clock
        self._stream = stream
        self._subject = subject
        self._lookback = lookback
        self._timeout = timeout
        self._batch = batch
        self._nc: NatsClient | None = None

    async def find(
        self,
        *,
        event_id: str | None = None,
        type: AuditType | None = None,
        continuum: str | None = None,
        since: datetime | None = None,
    ) -> AuditEvent | None:
        """The first stored event matching every given filter within the look-back window,
        or ``None``. Raises :class:`AuditUnavailable` when NATS or the stream is unreachable.
        ``since`` filters on the event's own ``timestamp`` as well as on storage time."""
        floor = self._clock.now() - timedelta(seconds=self._lookback)
        start = max(since, floor) if since is not None else floor
        try:
            js = (await self._connection()).jetstream()
            last = (await js.stream_info(self._stream)).state.last_seq
            if last == 0:
                return None
            config = jsapi.ConsumerConfig(
                deliver_policy=jsapi.DeliverPolicy.BY_START_TIME,
                opt_start_time=start,
                ack_policy=jsapi.AckPolicy.NONE,
                inactive_threshold=30.0,
                filter_subject=self._subject,
            )
            sub = await js.pull_subscribe(self._subject, stream=self._stream, config=config)
            try:
                # Nothing stored in the window: answered from the consumer's own count, not
                # by waiting for a fetch to time out.
                if (await sub.consumer_info()).num_pending == 0:
                    return None
                return await self._scan(sub, last, event_id, type, continuum, since)
            finally:
                with contextlib.suppress(*_NATS_ERRORS, nats.js.errors.APIError):
                    await sub.unsubscribe()
                    await js.delete_consumer(self._stream, sub._consumer)
        except (nats.js.errors.APIError, *_NATS_ERRORS) as exc:
            await self.aclose()
            raise AuditUnavailable(f"audit tail on {self._stream!r}: {exc!r}") from exc

    async def _scan(
        self,
        sub: Any,
        last: int,
        event_id: str | None,
        type: AuditType | None,
        continuum: str | None,
        since: datetime | None,
    ) -> AuditEvent | None:
        while True:
            try:
                msgs = await sub.fetch(self._batch, timeout=self._timeout)
            except (TimeoutError, nats.errors.TimeoutError):
                # nats-py raises either, depending on where the deadline fell.
                return None
            for msg in msgs:
                found = _match(msg, event_id, type, continuum, since)
                if found is not None:
                    return found
                if msg.metadata.sequence.stream >= last:
                    return None

    async def _connection(self) -> NatsClient:
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect_nats(
                self.url, name="continuum-audit-tail", connect_timeout=self._timeout
            )
        return self._nc

    async def aclose(self) -> None:
        """Close the tail's connection. Idempotent."""
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(*_NATS_ERRORS):
                await nc.close()


def _match(
    msg: Any,
    event_id: str | None,
    type: AuditType | None,
    continuum: str | None,
    since: datetime | None,
) -> AuditEvent | None:
    headers = msg.headers or {}
    if type is not None and headers.get(HEADER_AUDIT_TYPE) != type.value:
        return None
    if continuum is not None and headers.get(HEADER_CONTINUUM_NAME) != continuum:
        return None
    try:
        event = decode_event(msg.data)
    except msgspec.DecodeError:
        return None  # not one of ours; never fail a health check on a stranger's message
    if event_id is not None and event.eventId != event_id:
        return None
    if since is not None:
        stamp = parse_timestamp(event.timestamp)
        if stamp is not None and stamp < since:
            return None
    return event
