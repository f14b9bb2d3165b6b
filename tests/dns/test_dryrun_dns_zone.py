"""DryRun and Execute against a real pdns_server: a hostname outside the zone and a zone the
server does not serve are blockers at step 4 before any write (the server itself answers 422
"Name is out of zone" to such a commit, which would otherwise come after cordon and drain)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from continuum.adapters.powerdns import PowerDnsApi
from continuum.clock import FakeClock
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord
from continuum.switchover.dryrun import dry_run
from continuum.switchover.sequencer import Sequencer
from continuum_sim.pdns import PdnsServer
from tests.switchover.fakes import World, autojumping, make_world

pytestmark = pytest.mark.anyio

ZONE = "example.com"  # the zone of tests.switchover.fakes.dns_plan()


@pytest.fixture
async def api(pdns: PdnsServer) -> AsyncIterator[PowerDnsApi]:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as client:
        await client.ensure_zone(ZONE, nameservers=[f"ns1.{ZONE}"])
        yield client


async def _world() -> World:
    return await make_world(FakeClock())


async def test_the_server_refuses_a_name_outside_the_zone(api: PowerDnsApi) -> None:
    record = LuaRecord(hostname="shop.acme.io", body='"127.0.0.1"', ttl=0, primary_region="r")
    with pytest.raises(DnsWriteError, match="out of zone"):
        await api.commit(ZONE, [record])


async def test_dry_run_blocks_a_hostname_outside_the_zone_and_execute_writes_nothing(
    api: PowerDnsApi,
) -> None:
    world = await _world()
    dns = world.plan().dns
    assert dns is not None
    plan = world.plan(
        dns=msgspec.structs.replace(dns, hostnames=("web.example.com", "shop.acme.io"))
    )
    ports = world.ports(dns=api, verify_dns=None)
    report = await dry_run(plan, ports)
    assert [b for b in report.blockers if b.startswith("step-4")] == [
        'step-4: spec.dns.hostnames: "shop.acme.io" is outside zone "example.com" '
        '(the DNS server would refuse it: "Name is out of zone")'
    ]
    writes = world.writes()
    result = await autojumping(
        world.clock, lambda: Sequencer(ports).execute(plan, switchover_id="z")
    )
    assert not result.ok
    assert result.steps_completed == ()
    assert world.writes() == writes
    assert not [r for r in await api.rrsets(ZONE) if r.type == "LUA"]


async def test_dry_run_blocks_a_zone_the_server_does_not_serve(api: PowerDnsApi) -> None:
    world = await _world()
    dns = world.plan().dns
    assert dns is not None
    plan = world.plan(
        dns=msgspec.structs.replace(dns, zone="example.net", hostnames=("web.example.net",))
    )
    report = await dry_run(plan, world.ports(dns=api, verify_dns=None))
    assert 'step-4: spec.dns.zone: zone "example.net" is not served by the DNS writer' in (
        report.blockers
    )


async def test_a_clean_plan_has_no_dns_blocker_with_the_real_server(api: PowerDnsApi) -> None:
    world = await _world()
    report = await dry_run(world.plan(), world.ports(dns=api, verify_dns=None))
    assert not [b for b in report.blockers if b.startswith("step-4")]
