"""Synthesised ``ifurlup`` records served by real pdns: the flip, and pdns' own failover when
the primary's probe turns unhealthy. pdns health-checks in real time (about 1 s), so these
waits poll the real server on the system clock with a bounded deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import SystemClock
from continuum.sim.pdns import PdnsServer, pick_free_port
from continuum.switchover.dnsverify import DnsVerification, verify_answer
from continuum.switchover.lua import LuaSynthesisParams, synthesize

pytestmark = pytest.mark.anyio

FSN, HEL = "hz-fsn-rtz-prod", "hz-hel-rtz-prod"
FSN_IP, HEL_IP = "127.0.0.21", "127.0.0.22"
HOSTS = ("shop.example.test", "api.example.test")


class HealthEndpoints:
    """``/healthz`` on each region's IP (same port); a region's status can be changed."""

    def __init__(self) -> None:
        self.status = {FSN_IP: 200, HEL_IP: 200}
        self.port = pick_free_port((FSN_IP, HEL_IP))

    async def handle(self, request: web.Request) -> web.Response:
        local = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        return web.Response(status=self.status.get(local, 500), text="health")


@pytest.fixture
async def health() -> AsyncIterator[HealthEndpoints]:
    endpoints = HealthEndpoints()
    app = web.Application()
    app.router.add_get("/healthz", endpoints.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for ip in (FSN_IP, HEL_IP):
        await web.TCPSite(runner, ip, endpoints.port).start()
    yield endpoints
    await runner.cleanup()


def _params(primary: str, port: int) -> LuaSynthesisParams:
    return LuaSynthesisParams(
        primary_region=primary,
        region_ips={FSN: (FSN_IP,), HEL: (HEL_IP,)},
        probe_hosts={FSN: "probe-fsn.example.test", HEL: "probe-hel.example.test"},
        health_check_url=f"http://probe.example.test:{port}/healthz",
        health_check_interval_seconds=1,
        health_check_timeout_seconds=1,
        hostnames=HOSTS,
        ttl=1,
    )


async def _settles_on(pdns: PdnsServer, ip: str) -> DnsVerification:
    return await verify_answer(
        AiodnsResolver(),
        hostnames=HOSTS,
        vantages=pdns.nameservers,
        expected_ips=[ip],
        timeout=8.0,
        clock=SystemClock(),
        interval=0.1,
        probe_timeout=1.0,
    )


async def test_flip_and_pdns_failover_when_the_primary_probe_fails(
    pdns: PdnsServer, health: HealthEndpoints
) -> None:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone("example.test")
        await api.commit("example.test", synthesize(_params(FSN, health.port)))
        assert (await _settles_on(pdns, FSN_IP)).ok

        await api.commit("example.test", synthesize(_params(HEL, health.port)))
        flipped = await _settles_on(pdns, HEL_IP)
        assert flipped.ok, flipped.summary()

        health.status[HEL_IP] = 503
        failed_over = await _settles_on(pdns, FSN_IP)
        assert failed_over.ok, failed_over.summary()
