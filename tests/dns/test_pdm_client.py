"""The PDM client against the PDM contract server (and through it, a real pdns_server)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from continuum.adapters.pdm import (
    PdmAuthRejected,
    PdmClient,
    PdmNothingToCommit,
    marshal_commit_body,
)
from continuum.adapters.powerdns import PowerDnsApi
from continuum.adapters.resolver import AiodnsResolver
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord
from continuum.switchover.lua import LuaSynthesisParams, synthesize
from continuum_sim.pdm import PdmServer
from continuum_sim.pdns import PdnsServer

pytestmark = pytest.mark.anyio

TOKEN = "catalyst-secret"
RECORDS = synthesize(
    LuaSynthesisParams(
        primary_region="hz-fsn-rtz-prod",
        region_ips={"hz-fsn-rtz-prod": ("5.1.2.3",), "hz-hel-rtz-prod": ("5.5.6.7",)},
        health_check_url="https://probe-fsn.example.com/healthz",
        hostnames=("web.example.com", "api.example.com"),
    )
)


@pytest.fixture
async def pdm() -> AsyncIterator[PdmServer]:
    async with PdmServer(token=TOKEN) as server:
        yield server


async def test_commit_posts_the_byte_stable_body_with_the_token(pdm: PdmServer) -> None:
    async with PdmClient(pdm.url, token=TOKEN) as client:
        await client.commit("example.com", RECORDS)
    (commit,) = pdm.commits
    assert commit.zone == "example.com"
    assert commit.raw_body == marshal_commit_body("example.com", RECORDS)
    assert [r.hostname for r in commit.records] == ["api.example.com", "web.example.com"]


async def test_trailing_slash_in_the_base_url_is_ignored(pdm: PdmServer) -> None:
    async with PdmClient(pdm.url + "/", token=TOKEN) as client:
        await client.commit("example.com", RECORDS)
    assert len(pdm.commits) == 1


@pytest.mark.parametrize("token", ["", "wrong"])
async def test_missing_or_wrong_token_raises_auth_rejected(pdm: PdmServer, token: str) -> None:
    async with PdmClient(pdm.url, token=token) as client:
        with pytest.raises(PdmAuthRejected, match=r"^pdm: auth rejected \(status 401\)$"):
            await client.commit("example.com", RECORDS)
    assert pdm.commits == []


async def test_forbidden_is_an_auth_rejection_too(pdm: PdmServer) -> None:
    pdm.fail_next(403)
    async with PdmClient(pdm.url, token=TOKEN) as client:
        with pytest.raises(PdmAuthRejected, match=r"status 403"):
            await client.commit("example.com", RECORDS)


async def test_server_error_names_the_status_and_at_most_256_body_chars(pdm: PdmServer) -> None:
    pdm.fail_next(503, body="x" * 1000)
    async with PdmClient(pdm.url, token=TOKEN) as client:
        with pytest.raises(DnsWriteError) as raised:
            await client.commit("example.com", RECORDS)
        assert str(raised.value) == "pdm: status 503: " + "x" * 256
        await client.commit("example.com", RECORDS)  # the next one goes through
    assert len(pdm.commits) == 1


async def test_transport_error_raises_dns_write_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        await _commit_fails_in_transport(url)


async def _commit_fails_in_transport(url: str) -> None:
    async with PdmClient(url, token=TOKEN) as client:
        with pytest.raises(DnsWriteError, match=r"^pdm: http: "):
            await client.commit("example.com", RECORDS)


async def test_no_records_is_the_distinct_no_op_error_and_sends_nothing(pdm: PdmServer) -> None:
    async with PdmClient(pdm.url, token=TOKEN) as client:
        with pytest.raises(PdmNothingToCommit, match=r"no records to commit \(no-op\)"):
            await client.commit("example.com", [])
        with pytest.raises(DnsWriteError, match="zone is required"):
            await client.commit("", RECORDS)
    async with PdmClient("", token=TOKEN) as unconfigured:
        with pytest.raises(DnsWriteError, match="base URL is not configured"):
            await unconfigured.commit("example.com", RECORDS)
    assert pdm.requests == 0


async def test_pdm_sim_writes_through_to_powerdns(pdns: PdnsServer) -> None:
    record = LuaRecord(hostname="shop.example.test", body='"127.0.0.23"', ttl=0, primary_region="r")
    async with PowerDnsApi(pdns.api_url, pdns.api_key) as api:
        await api.ensure_zone("example.test")
        async with (
            PdmServer(token=TOKEN, powerdns=api) as pdm,
            PdmClient(pdm.url, token=TOKEN) as client,
        ):
            await client.commit("example.test", [record])
            with pytest.raises(DnsWriteError, match="status 502"):
                await client.commit(
                    "example.test",
                    [
                        LuaRecord(
                            hostname="x.other.test", body='"1.1.1.1"', ttl=0, primary_region="r"
                        )
                    ],
                )
    answer = await AiodnsResolver().resolve_a(
        "shop.example.test", nameserver=pdns.nameservers[2], timeout=1.0
    )
    assert answer == ["127.0.0.23"]
    assert len(pdm.commits) == 1
