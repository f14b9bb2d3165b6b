"""Synthesised ``ifurlup`` records served by real pdns: the flip, and pdns' own failover when
the primary's probe turns unhealthy. pdns health-checks in real time (about 1 s), so these
waits poll the real server on the system clock with a bounded deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.clock import SystemClock
from continuum.switchover.dnsverify import DnsVerification, verify_answer
from continuum.switchover.lua import LuaSynthesisParams, synthesize
from continuum_sim.pdns import PdnsServer
from continuum_sim.stack import AppEndpoints

pytestmark = pytest.mark.anyio

FSN, HEL = "hz-fsn-rtz-prod", "hz-hel-rtz-prod"
FSN_IP, HEL_IP = "127.0.0.21", "127.0.0.22"
HOSTS = ("shop.example.test", "api.example.test")


@pytest.fixture
async def health() -> AsyncIterator[AppEndpoints]:
    """``/healthz`` on each region's IP (one port); ``set_healthy`` turns a region's 503."""
    async with AppEndpoints({FSN: (FSN_IP,), HEL: (HEL_IP,)}) as endpoints:
        yield endpoints


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
    pdns: PdnsServer, health: AppEndpoints
) -> None:
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone("example.test")
        await api.commit("example.test", synthesize(_params(FSN, health.port)))
        assert (await _settles_on(pdns, FSN_IP)).ok

        await api.commit("example.test", synthesize(_params(HEL, health.port)))
        flipped = await _settles_on(pdns, HEL_IP)
        assert flipped.ok, flipped.summary()

        health.set_healthy(HEL, False)
        failed_over = await _settles_on(pdns, FSN_IP)
        assert failed_over.ok, failed_over.summary()
