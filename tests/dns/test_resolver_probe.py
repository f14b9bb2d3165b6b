"""The aiodns resolver port: empty answers, unreachable vantages, and the probe fan-out."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.errors import ResolverUnavailable
from continuum.messages.dns import LuaRecord
from continuum.switchover.dnsverify import ProbeStatus, probe_all
from continuum_sim.pdns import PdnsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def silent_udp() -> Iterator[str]:
    """A UDP socket on 127.0.0.4 that receives queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.4", 0))
        yield f"127.0.0.4:{sock.getsockname()[1]}"


async def test_unanswered_query_raises_resolver_unavailable_after_the_timeout(
    silent_udp: str,
) -> None:
    with pytest.raises(ResolverUnavailable, match=r"127\.0\.0\.4"):
        await AiodnsResolver().resolve_a("shop.example.test", nameserver=silent_udp, timeout=0.2)


async def test_address_where_nothing_listens_raises_resolver_unavailable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        # The port stays ours for the test, yet nothing receives on it: a connected UDP socket
        # only takes datagrams from its peer, so the query is refused (port unreachable).
        held.bind(("127.0.0.5", 0))
        held.connect(("127.0.0.9", 9))
        nameserver = f"127.0.0.5:{held.getsockname()[1]}"
        with pytest.raises(ResolverUnavailable):
            await AiodnsResolver().resolve_a(
                "shop.example.test", nameserver=nameserver, timeout=0.5
            )


async def test_name_without_records_resolves_to_an_empty_list(pdns: PdnsServer) -> None:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone("example.test")
    resolver = AiodnsResolver()
    for name in ("example.test", "missing.example.test"):  # NODATA, NXDOMAIN
        assert await resolver.resolve_a(name, nameserver=pdns.nameservers[1], timeout=1.0) == []


async def test_probe_round_classifies_each_hostname_at_each_vantage(
    pdns: PdnsServer, silent_udp: str
) -> None:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone("example.test")
        await api.commit(
            "example.test",
            [
                LuaRecord(
                    hostname="new.example.test", body='"127.0.0.22"', ttl=0, primary_region="b"
                ),
                LuaRecord(
                    hostname="old.example.test", body='"127.0.0.21"', ttl=0, primary_region="a"
                ),
            ],
        )
    probes = await probe_all(
        AiodnsResolver(),
        hostnames=["new.example.test", "old.example.test", "none.example.test"],
        vantages=[pdns.nameservers[0], silent_udp],
        expected_ips=["127.0.0.22"],
        probe_timeout=0.3,
    )
    assert [(p.hostname, p.vantage, p.status) for p in probes] == [
        ("new.example.test", pdns.nameservers[0], ProbeStatus.EXPECTED),
        ("new.example.test", silent_udp, ProbeStatus.UNAVAILABLE),
        ("old.example.test", pdns.nameservers[0], ProbeStatus.UNEXPECTED),
        ("old.example.test", silent_udp, ProbeStatus.UNAVAILABLE),
        ("none.example.test", pdns.nameservers[0], ProbeStatus.EMPTY),
        ("none.example.test", silent_udp, ProbeStatus.UNAVAILABLE),
    ]
    assert probes[2].describe() == (
        f"old.example.test@{pdns.nameservers[0]}: returned 127.0.0.21, none expected"
    )
