"""The PowerDNS API writer and the resolver against a real pdns_server on 127.0.0.1/.2/.3."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from continuum.adapters.powerdns import PowerDnsApi, lua_content
from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import FakeClock
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord
from continuum.switchover.dnsverify import ProbeStatus, verify_answer
from continuum_sim.pdns import PdnsServer

pytestmark = pytest.mark.anyio

ZONE = "example.test"
HOST = "shop.example.test"


def _static(ip: str, *, hostname: str = HOST, region: str = "r") -> LuaRecord:
    """A LUA record whose answer does not depend on health checks (deterministic)."""
    return LuaRecord(hostname=hostname, body=f'"{ip}"', ttl=0, primary_region=region)


@pytest.fixture
async def api(pdns: PdnsServer) -> AsyncIterator[PowerDnsApi]:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as client:
        await client.ensure_zone(ZONE, nameservers=[f"ns1.{ZONE}"])
        yield client


async def _verify(pdns: PdnsServer, expected: list[str], hostnames: list[str]) -> bool:
    clock = FakeClock()
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        result = await verify_answer(
            AiodnsResolver(),
            hostnames=hostnames,
            vantages=pdns.nameservers,
            expected_ips=expected,
            timeout=2.0,
            clock=clock,
            probe_timeout=1.0,
        )
        group.cancel_scope.cancel()
    return result.ok


async def test_committed_records_flip_the_answer_at_every_vantage(
    pdns: PdnsServer, api: PowerDnsApi
) -> None:
    resolver = AiodnsResolver()
    await api.commit(ZONE, [_static("127.0.0.21"), _static("127.0.0.31", hostname=f"api.{ZONE}")])
    for vantage in pdns.nameservers:
        assert await resolver.resolve_a(HOST, nameserver=vantage, timeout=1.0) == ["127.0.0.21"]

    await api.commit(ZONE, [_static("127.0.0.22")])

    # Each probe is a new resolver: no c-ares cache can hide the flip.
    for vantage in pdns.nameservers:
        assert await resolver.resolve_a(HOST, nameserver=vantage, timeout=1.0) == ["127.0.0.22"]
    assert await resolver.resolve_a(f"api.{ZONE}", nameserver=pdns.nameservers[0], timeout=1.0) == [
        "127.0.0.31"
    ]
    assert await _verify(pdns, ["127.0.0.22"], [HOST])


async def test_commit_is_idempotent(pdns: PdnsServer, api: PowerDnsApi) -> None:
    await api.commit(ZONE, [_static("127.0.0.21")])
    await api.commit(ZONE, [_static("127.0.0.21")])
    lua = [r for r in await api.rrsets(ZONE) if r.type == "LUA"]
    assert [(r.name, [x.content for x in r.records]) for r in lua] == [
        (f"{HOST}.", ["A \"'127.0.0.21'\""])
    ]


async def test_differing_names_the_records_that_are_not_the_given_ones(api: PowerDnsApi) -> None:
    """Convergence reads what the writer holds: a record stored as given agrees; another
    body, or no record at all, differs. Never writes."""
    mine, other = _static("127.0.0.21"), _static("127.0.0.22")
    absent = _static("127.0.0.23", hostname=f"api.{ZONE}")
    await api.commit(ZONE, [other])
    before = await api.rrsets(ZONE)
    assert await api.differing(ZONE, [mine, absent]) == [HOST, f"api.{ZONE}"]
    assert await api.rrsets(ZONE) == before
    await api.commit(ZONE, [mine, absent])
    assert await api.differing(ZONE, [mine, absent]) == []


async def test_synthesised_double_quotes_are_stored_as_single_quotes() -> None:
    record = LuaRecord(
        hostname=HOST, body='ifurlup("http://p/h", {{"1.2.3.4"}})', ttl=30, primary_region="r"
    )
    assert lua_content(record) == "A \"ifurlup('http://p/h', {{'1.2.3.4'}})\""
    with pytest.raises(DnsWriteError):
        lua_content(LuaRecord(hostname=HOST, body="\"a\" .. 'b'", ttl=30, primary_region="r"))


async def test_broken_lua_body_is_accepted_by_the_api_but_the_verifier_reports_failure(
    pdns: PdnsServer, api: PowerDnsApi
) -> None:
    broken = LuaRecord(hostname=HOST, body="ifurlup(", ttl=0, primary_region="r")
    await api.commit(ZONE, [broken])  # PowerDNS does not validate the Lua
    clock = FakeClock()
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        result = await verify_answer(
            AiodnsResolver(),
            hostnames=[HOST],
            vantages=pdns.nameservers,
            expected_ips=["127.0.0.21"],
            timeout=1.0,
            clock=clock,
            interval=0.25,
        )
        group.cancel_scope.cancel()
    assert not result.ok
    assert result.rounds == 5  # t=0, .25, .5, .75, 1.0 on the fake clock
    assert {p.status for p in result.probes} == {ProbeStatus.EMPTY}
    assert "3/3 probes not as expected" in result.summary()


async def test_wrong_api_key_raises_dns_write_error(pdns: PdnsServer, api: PowerDnsApi) -> None:
    async with PowerDnsApi(pdns.api_url, "wrong-key") as intruder:
        with pytest.raises(DnsWriteError, match=r"auth rejected \(status 401\)") as raised:
            await intruder.commit(ZONE, [_static("127.0.0.66")])
    assert "wrong-key" not in str(raised.value)


async def test_stopped_pdns_raises_dns_write_error(pdns: PdnsServer, api: PowerDnsApi) -> None:
    await pdns.stop()
    with pytest.raises(DnsWriteError, match="powerdns: http:"):
        await api.commit(ZONE, [_static("127.0.0.21")])


async def test_hostname_outside_the_zone_is_rejected(api: PowerDnsApi) -> None:
    with pytest.raises(DnsWriteError, match="status 422"):
        await api.commit(ZONE, [_static("127.0.0.21", hostname="shop.elsewhere.test")])


async def test_empty_commit_raises_without_a_request(api: PowerDnsApi) -> None:
    with pytest.raises(DnsWriteError, match="no-op"):
        await api.commit(ZONE, [])


async def test_ensure_zone_keeps_an_existing_zone(api: PowerDnsApi) -> None:
    await api.commit(ZONE, [_static("127.0.0.21")])
    await api.ensure_zone(ZONE)
    assert any(r.type == "LUA" for r in await api.rrsets(ZONE))
    with pytest.raises(DnsWriteError, match="status 409"):
        await api.create_zone(ZONE)


async def test_txt_values_round_trip_and_empty_deletes(api: PowerDnsApi) -> None:
    name = f"_lease.ns-name.{ZONE}"
    assert await api.read_txt(ZONE, name) == []
    await api.write_txt(ZONE, name, ["holder=fsn gen=3", "expires=2026-01-01T00:00:30Z"])
    assert await api.read_txt(ZONE, name) == ["expires=2026-01-01T00:00:30Z", "holder=fsn gen=3"]
    await api.write_txt(ZONE, name, [])
    assert await api.read_txt(ZONE, name) == []
    with pytest.raises(DnsWriteError):
        await api.write_txt(ZONE, name, ['quote"d'])
