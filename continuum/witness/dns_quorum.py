"""``dns-quorum``: the lease as a TXT record on N ≥ 3 independent authoritative servers,
read over DNS and decided by majority, written through each server's PowerDNS HTTP API.

Record: ``<slot label>.<domain>`` TXT ``<holder>|<acquiredAt>|<expiresAt>|<generation>|<ttl>``
(RFC 3339 UTC); a released slot is the bare generation (``"7"``); an absent record is a slot
never written (generation 0). Decoding also accepts the reference's 4-field and 3-field forms.

Read: every member is asked in parallel over UDP, each through a NEW ``aiodns.DNSResolver``
(c-ares caches answers and the cache cannot be turned off). Identical answers are tallied; a
value given by ⌊N/2⌋+1 members wins. Fewer answers than a quorum, or no value with a quorum
(a 1/1/1 split), raise ``QuorumUnavailable`` — from ``read`` too: never "free" (a
free answer would let a second writer in).

Write: on every member in parallel, the record is read through the API and, only if it still
holds the value the write was computed from, replaced; the write counts when a quorum
acknowledged. Then it is read back over DNS; if the majority is not the value just written,
another writer raced this one and the write is reported as a lost compare-and-set. A write
that starts a new holder's tenure (the only write several takers race for) then waits
``settle_seconds`` of real time — longer than a competing write can stay in flight — and
checks the majority again.

CAS caveat — this backend is NOT linearizable. PowerDNS has no conditional write, so the
"compare" is a separate API read on each member just before its write, plus the read-back
after. Two writers whose compare and write on a majority of members interleave exactly (both
compare before either writes, on two members) can still both believe they won. The
per-member compare, the read-back and the settle re-check make it need a competing write
delayed beyond ``settle_seconds`` (measured: 0 double winners in 60 three-way races on
loopback with a 0.1 s settle, 8 in 60 without it), not impossible. A write that reached
only some members can leave a split that blocks everyone with ``QuorumUnavailable`` until a
quorum agrees again. Expiry uses the writer's clock, so a skew margin (``skew_margin``) is
added before a taker evicts a holder.
Prefer ``nats-kv`` or a Durable-Object Worker when you need a real compare-and-set.

Generation: each write stores ``majority generation + 1``; a partial write that did not reach
a quorum may leave a member one generation ahead, which the next successful write overwrites
with the same number — generations observed through a quorum never go backwards.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiodns
import aiodns.error
import anyio
import pycares

from continuum.errors import DnsWriteError, QuorumUnavailable, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock, TxtZone
from continuum.witness.cas import CasConflict, CasWitness

__all__ = [
    "DnsMember",
    "DnsQuorumStore",
    "DnsQuorumWitness",
    "decode_txt",
    "encode_txt",
    "slot_label",
]

_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]*(_[a-z0-9][a-z0-9-]*)?$")
_EMPTY = {pycares.errno.ARES_ENOTFOUND, pycares.errno.ARES_ENODATA}


def slot_label(slot: str) -> str:
    """The DNS label of ``slot``: ``ns/name`` → ``ns_name`` when that is one valid label of at
    most 63 characters (Kubernetes names never contain ``_``, so it is unambiguous); otherwise
    ``h-<sha256 prefix>`` (never contains ``_``, so it cannot collide with the plain form)."""
    plain = slot.replace("/", "_").lower()
    if slot.count("/") <= 1 and slot == slot.lower() and len(plain) <= 63 and _LABEL.match(plain):
        return plain
    return "h-" + hashlib.sha256(slot.encode()).hexdigest()[:32]


def _fmt(when: datetime | None) -> str:
    return "" if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def encode_txt(lease: Lease) -> str:
    """The TXT value of ``lease`` (``""`` for a never-written slot)."""
    if not lease.holder:
        return str(lease.generation) if lease.generation else ""
    fields = (
        lease.holder,
        _fmt(lease.acquired_at),
        _fmt(lease.expires_at),
        str(lease.generation),
        repr(float(lease.ttl_seconds)),
    )
    return "|".join(fields)


def decode_txt(key: str, value: str) -> Lease:
    """Inverse of :func:`encode_txt`; raises ``ValueError`` on a malformed value."""
    if value == "":
        return Lease(key=key)
    if value.isdigit():
        return Lease(key=key, generation=int(value))
    parts = value.split("|")
    if len(parts) == 3:
        parts = [parts[0], "", parts[1], parts[2]]
    if len(parts) not in (4, 5) or not parts[0] or not parts[3].isdigit():
        raise ValueError(f"malformed lease TXT {value!r}")
    return Lease(
        key=key,
        holder=parts[0],
        acquired_at=_parse(parts[1]),
        expires_at=_parse(parts[2]),
        generation=int(parts[3]),
        ttl_seconds=float(parts[4]) if len(parts) == 5 else 30.0,
    )


@dataclass(frozen=True, kw_only=True)
class DnsMember:
    """One witness member: where to ask (``ip`` or ``ip:port``) and its TXT records (the
    PowerDNS API, ``adapters.powerdns.PowerDnsApi``)."""

    nameserver: str
    api: TxtZone


class DnsQuorumStore:
    """A majority-quorum :class:`~continuum.witness.cas.SlotStore`; version = the raw
    majority value the write was computed from."""

    def __init__(
        self,
        members: Sequence[DnsMember],
        *,
        domain: str,
        zone: str | None = None,
        timeout: float = 2.0,
        settle_seconds: float = 1.0,
    ) -> None:
        if len(members) < 3:
            raise ValueError("dns-quorum needs at least 3 members")
        self.members = list(members)
        self.domain = domain.rstrip(".")
        self.zone = (zone or self.domain).rstrip(".")
        self.quorum = len(members) // 2 + 1
        self._timeout = timeout
        self.settle_seconds = settle_seconds

    def record_name(self, key: str) -> str:
        return f"{slot_label(key)}.{self.domain}"

    async def ensure_zones(self) -> int:
        """Create the zone on every reachable member; returns how many have it."""
        ready = 0
        for member in self.members:
            try:
                await member.api.ensure_zone(self.zone, nameservers=[f"ns1.{self.zone}"])
                ready += 1
            except DnsWriteError:
                continue
        return ready

    async def _ask(self, nameserver: str, name: str) -> str:
        host, _, port = nameserver.partition(":")
        resolver = aiodns.DNSResolver(
            nameservers=[host],
            udp_port=int(port or 53),
            tcp_port=int(port or 53),
            timeout=self._timeout,
            tries=1,
        )
        try:
            result = await resolver.query_dns(name, "TXT")
        except aiodns.error.DNSError as error:
            if error.args and error.args[0] in _EMPTY:
                return ""
            raise
        finally:
            await resolver.close()
        texts = [r.data.data for r in result.answer if isinstance(r.data, pycares.TXTRecordData)]
        return texts[0].decode() if texts else ""

    async def _tally(self, key: str) -> tuple[str, list[str | None]]:
        name = self.record_name(key)
        answers: list[str | None] = [None] * len(self.members)

        async def ask(index: int) -> None:
            try:
                with anyio.fail_after(self._timeout + 0.5):
                    answers[index] = await self._ask(self.members[index].nameserver, name)
            except (aiodns.error.DNSError, TimeoutError, OSError):
                answers[index] = None

        async with anyio.create_task_group() as group:
            for index in range(len(self.members)):
                group.start_soon(ask, index)
        counts = Counter(a for a in answers if a is not None)
        if counts:
            value, count = min(counts.items(), key=lambda item: (-item[1], item[0]))
            if count >= self.quorum:
                return value, answers
        answered = sum(counts.values())
        raise QuorumUnavailable(
            f"dns-quorum {name}: no {self.quorum}-of-{len(self.members)} majority"
            f" ({answered} answered, values {dict(counts)})"
        )

    async def load(self, key: str) -> tuple[Lease, str | None]:
        value, _ = await self._tally(key)
        try:
            return decode_txt(key, value), value
        except ValueError as error:
            raise QuorumUnavailable(f"dns-quorum {key!r}: {error}") from error

    async def store(self, lease: Lease, *, version: str | None) -> None:
        name = self.record_name(lease.key)
        value = encode_txt(lease)
        expected = version or ""
        acks = 0
        moved = 0
        failures: list[str] = []

        async def write(member: DnsMember) -> None:
            nonlocal acks, moved
            try:
                # Per-member compare right before the write: narrows the race window to one
                # API round trip on each member (PowerDNS has no conditional PATCH).
                current = await member.api.read_txt(self.zone, name)
                if (current[0] if current else "") != expected:
                    moved += 1
                    return
                await member.api.write_txt(self.zone, name, [value], ttl=0)
                acks += 1
            except DnsWriteError as error:
                failures.append(str(error))

        async with anyio.create_task_group() as group:
            for member in self.members:
                group.start_soon(write, member)
        if acks < self.quorum:
            if moved and acks + len(failures) < self.quorum:
                raise CasConflict(lease.key)
            raise WitnessUnavailable(
                f"dns-quorum {name}: write quorum {acks}/{self.quorum}: {'; '.join(failures)}"
            )
        try:
            majority, _ = await self._tally(lease.key)
        except QuorumUnavailable as error:
            raise CasConflict(lease.key) from error
        if majority != value:
            raise CasConflict(lease.key)
        if self.settle_seconds and _new_tenure(lease, expected):
            # A competing taker's writes may still be in flight: wait them out (real time:
            # they are network requests) and check that the majority is still ours.
            await anyio.sleep(self.settle_seconds)
            majority, _ = await self._tally(lease.key)
            if majority != value:
                raise CasConflict(lease.key)

    async def aclose(self) -> None:
        for member in self.members:
            await member.api.aclose()


def _new_tenure(lease: Lease, previous: str) -> bool:
    """Whether writing ``lease`` over the raw ``previous`` value starts another holder's
    tenure — the only write several takers race for (renewals come from the live holder)."""
    if not lease.holder:
        return False
    try:
        return decode_txt(lease.key, previous).holder != lease.holder
    except ValueError:
        return True


class DnsQuorumWitness(CasWitness[str]):
    """The Witness contract over a :class:`DnsQuorumStore` (see the module's CAS caveat)."""

    def __init__(self, store: DnsQuorumStore, *, clock: Clock, skew_margin: float = 0.0) -> None:
        super().__init__(store, clock=clock, skew_margin=skew_margin)
        self.quorum_store = store
