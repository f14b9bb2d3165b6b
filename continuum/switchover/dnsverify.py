"""Did the DNS flip take? Ask every vantage for every hostname until they all answer an
expected address, or a deadline on the injected clock passes.

Pure domain code: talks to DNS only through the :class:`~continuum.ports.Resolver` port, waits
only through the :class:`~continuum.ports.Clock` port. Probes of one round run concurrently
(hostnames × vantages), each bounded by its own ``probe_timeout``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import anyio
import msgspec

from continuum.errors import ResolverUnavailable
from continuum.ports import Clock, Resolver


class ProbeStatus(enum.StrEnum):
    EXPECTED = "expected"
    """At least one returned address is in the expected set."""
    UNEXPECTED = "unexpected"
    """Addresses came back, none of them expected (e.g. still the old region)."""
    EMPTY = "empty"
    """The vantage answered without an address (NODATA, NXDOMAIN, SERVFAIL)."""
    UNAVAILABLE = "unavailable"
    """The vantage did not answer in time: unknown, not failed."""


class ProbeResult(msgspec.Struct, frozen=True, kw_only=True):
    hostname: str
    vantage: str
    status: ProbeStatus
    addresses: tuple[str, ...] = ()
    error: str = ""

    def describe(self) -> str:
        """``<host>@<vantage>: <what happened>`` for details and logs."""
        what = {
            ProbeStatus.EXPECTED: f"ok ({', '.join(self.addresses)})",
            ProbeStatus.UNEXPECTED: f"returned {','.join(self.addresses)}, none expected",
            ProbeStatus.EMPTY: "0 IPs returned",
            ProbeStatus.UNAVAILABLE: f"no answer ({self.error})",
        }[self.status]
        return f"{self.hostname}@{self.vantage}: {what}"


class DnsVerification(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`verify_answer`: the last round's probes and how many rounds."""

    ok: bool
    probes: tuple[ProbeResult, ...]
    rounds: int
    elapsed_seconds: float

    def summary(self) -> str:
        """One line: all good, or the failing probes."""
        if self.ok:
            return f"all {len(self.probes)} probes answered an expected address"
        failed = [p.describe() for p in self.probes if p.status is not ProbeStatus.EXPECTED]
        return f"{len(failed)}/{len(self.probes)} probes not as expected: " + "; ".join(failed)


async def probe_all(
    resolver: Resolver,
    *,
    hostnames: Sequence[str],
    vantages: Sequence[str],
    expected_ips: Sequence[str],
    probe_timeout: float,
) -> tuple[ProbeResult, ...]:
    """One concurrent round: every hostname at every vantage, results in (hostname,
    vantage) input order. Never raises for a probe's failure: it is in its result."""
    expected = frozenset(expected_ips)
    pairs = [(host, vantage) for host in hostnames for vantage in vantages]
    results: list[ProbeResult | None] = [None] * len(pairs)

    async def probe(index: int, host: str, vantage: str) -> None:
        try:
            addresses = await resolver.resolve_a(host, nameserver=vantage, timeout=probe_timeout)
        except ResolverUnavailable as error:
            results[index] = ProbeResult(
                hostname=host, vantage=vantage, status=ProbeStatus.UNAVAILABLE, error=str(error)
            )
            return
        if not addresses:
            status = ProbeStatus.EMPTY
        elif expected.intersection(addresses):
            status = ProbeStatus.EXPECTED
        else:
            status = ProbeStatus.UNEXPECTED
        results[index] = ProbeResult(
            hostname=host, vantage=vantage, status=status, addresses=tuple(addresses)
        )

    async with anyio.create_task_group() as group:
        for index, (host, vantage) in enumerate(pairs):
            group.start_soon(probe, index, host, vantage)
    return tuple(r for r in results if r is not None)


async def verify_answer(
    resolver: Resolver,
    *,
    hostnames: Sequence[str],
    vantages: Sequence[str],
    expected_ips: Sequence[str],
    timeout: float,
    clock: Clock,
    interval: float = 0.1,
    probe_timeout: float = 1.0,
) -> DnsVerification:
    """Probe rounds (:func:`probe_all`) every ``interval`` until every (hostname, vantage)
    answers an expected address — ``ok=True`` — or ``timeout`` seconds of ``clock`` have
    passed — ``ok=False`` with the last round. At least one round always runs. Never raises
    for DNS failures; cancellable between and during rounds. With no hostnames or vantages
    the answer is ``ok=False`` (nothing was verified).
    """
    start = clock.monotonic()
    deadline = start + timeout
    rounds = 0
    while True:
        probes = await probe_all(
            resolver,
            hostnames=hostnames,
            vantages=vantages,
            expected_ips=expected_ips,
            probe_timeout=probe_timeout,
        )
        rounds += 1
        ok = bool(probes) and all(p.status is ProbeStatus.EXPECTED for p in probes)
        now = clock.monotonic()
        if ok or not probes or now >= deadline:
            return DnsVerification(ok=ok, probes=probes, rounds=rounds, elapsed_seconds=now - start)
        await clock.sleep(min(interval, deadline - now))
