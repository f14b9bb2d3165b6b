"""The ``latency-normal`` source measured for real against an HTTP endpoint on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web

from continuum.adapters.latency import HttpLatencyProbe, LatencyProbeFailed
from continuum.clock import FakeClock
from continuum.messages.switchover import Mechanism, Plan
from continuum.switchover.health import HealthOptions, post_switchover_health

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Endpoint:
    def __init__(self) -> None:
        self.status = 200
        self.port = 0

    async def handle(self, _: web.Request) -> web.Response:
        return web.Response(status=self.status, text="ok")


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    app = web.Application()
    app.router.add_get("/ping", ep.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ep.port = int(runner.addresses[0][1])
    yield ep
    await runner.cleanup()


def plan() -> Plan:
    return Plan(
        continuum_name="shop/shop-dr",
        from_region="region-a",
        to_region="region-b",
        mechanism=Mechanism.STATELESS,
    )


async def test_measures_the_request_latency_of_the_region_url(endpoint: Endpoint) -> None:
    probe = HttpLatencyProbe({"region-b": f"http://127.0.0.1:{endpoint.port}/ping"})
    seconds = await probe("region-b")
    assert 0 < seconds < 2


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else can take it), not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def test_non_2xx_unknown_region_and_nothing_listening_fail_the_probe(
    endpoint: Endpoint, refused_port: int
) -> None:
    endpoint.status = 503
    probe = HttpLatencyProbe(
        {
            "region-b": f"http://127.0.0.1:{endpoint.port}/ping",
            "region-c": f"http://127.0.0.1:{refused_port}/ping",
        },
        timeout=1,
    )
    with pytest.raises(LatencyProbeFailed, match="503"):
        await probe("region-b")
    with pytest.raises(LatencyProbeFailed, match="region-x"):
        await probe("region-x")
    with pytest.raises(LatencyProbeFailed, match="ConnectError"):
        await probe("region-c")


async def test_latency_normal_passes_under_and_fails_over_the_threshold(
    endpoint: Endpoint,
) -> None:
    probe = HttpLatencyProbe({"region-b": f"http://127.0.0.1:{endpoint.port}/ping"})
    base = {"clock": FakeClock(), "latency": probe}
    fast = await post_switchover_health(
        plan(),
        HealthOptions(**base, latency_threshold_seconds=5.0),  # type: ignore[arg-type]
    )
    slow = await post_switchover_health(
        plan(),
        HealthOptions(**base, latency_threshold_seconds=1e-9),  # type: ignore[arg-type]
    )
    by_name = {c.name: c for c in fast.checks}
    assert by_name["latency-normal"].status == "pass"
    assert not by_name["latency-normal"].deferred
    assert "latency to region-b" in by_name["latency-normal"].detail
    assert {c.name: c for c in slow.checks}["latency-normal"].status == "fail"


async def test_an_unanswering_endpoint_makes_latency_unknown_not_failed(
    endpoint: Endpoint,
) -> None:
    endpoint.status = 500
    probe = HttpLatencyProbe({"region-b": f"http://127.0.0.1:{endpoint.port}/ping"})
    report = await post_switchover_health(plan(), HealthOptions(clock=FakeClock(), latency=probe))
    check = {c.name: c for c in report.checks}["latency-normal"]
    assert check.status == "unknown"
    assert "500" in check.detail
