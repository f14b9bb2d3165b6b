"""Sharded, a request for a CR another replica runs is answered by that replica
(:mod:`continuum.http.forwarding`): two APIs over real HTTP, each over its own supervisor of
fake Continuum actors, each with a directory saying which peer runs what."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from continuum.config import Address, Settings
from continuum.controller import _advertised_api_url
from continuum.http import bind_listener
from continuum.http.forwarding import FORWARDED_BY, UNREACHABLE_PEERS
from continuum.messages.requests import DryRunRequest, HealthRequest, SwitchoverRequest
from tests.http.conftest import AUTH, OWNER, ApiUnderTest, running_api
from tests.http.fake_continuum import FINGERPRINT, STANDBY

pytestmark = pytest.mark.anyio

ORDERS = "team-a/orders"
BILLING = "team-b/billing"
UNREACHABLE = "http://127.0.0.1:9"


@dataclass
class Directory:
    """A shard membership's answer, set by the test: key → the peer's API URL."""

    identity: str
    urls: dict[str, str] = field(default_factory=dict)
    others: list[str] = field(default_factory=list)
    """Live peers that run none of the keys in ``urls``."""

    def peer_url_for(self, key: str) -> str | None:
        return self.urls.get(key)

    def peer_urls(self) -> list[str]:
        return sorted(set(self.urls.values()) | set(self.others))


@asynccontextmanager
async def two_replicas() -> AsyncIterator[tuple[ApiUnderTest, Directory, ApiUnderTest, Directory]]:
    """Replica a runs team-a/orders, replica b runs team-b/billing; a's directory sends
    billing to b."""
    da, db = Directory("replica-a"), Directory("replica-b")
    async with (
        running_api(crs=(ORDERS,), peers=da) as a,
        running_api(crs=(BILLING,), peers=db) as b,
    ):
        da.urls[BILLING] = b.base_url
        yield a, da, b, db


async def test_a_request_for_a_peers_cr_is_answered_by_the_peer() -> None:
    async with two_replicas() as (a, _, b, _):
        response = await a.client.get(f"/v1/continuums/{BILLING}", headers=AUTH)
        assert response.status_code == 200
        assert (response.json()["namespace"], response.json()["name"]) == ("team-b", "billing")

        body = {"toRegion": STANDBY, "reason": "maintenance"}
        response = await a.client.post(f"/v1/continuums/{BILLING}/dry-run", json=body, headers=AUTH)
        assert response.status_code == 200
        assert response.json()["planFingerprint"] == FINGERPRINT
        assert response.headers["content-type"].startswith("application/json")

        response = await a.client.get(f"/v1/continuums/{BILLING}/health?fresh=true", headers=AUTH)
        assert response.status_code == 200

        body = {"toRegion": STANDBY, "fingerprint": FINGERPRINT, "initiatedBy": "sre"}
        response = await a.client.post(
            f"/v1/continuums/{BILLING}/switchover", json=body, headers=AUTH
        )
        assert response.status_code == 202
        assert response.json()["id"] == "so-0001"

        assert b.states[BILLING].received == [
            DryRunRequest(toRegion=STANDBY, reason="maintenance"),
            HealthRequest(fresh=True),
            SwitchoverRequest(toRegion=STANDBY, fingerprint=FINGERPRINT, initiatedBy="sre"),
        ]
        assert a.states[ORDERS].received == []


async def test_the_peers_refusals_come_back_unchanged() -> None:
    async with two_replicas() as (a, _, b, _):
        b.states[BILLING].mode = "not-ready"
        response = await a.client.post(
            f"/v1/continuums/{BILLING}/dry-run", json={"toRegion": STANDBY}, headers=AUTH
        )
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "witness not read yet" in response.json()["error"]

        b.states[BILLING].mode = "ok"
        body = {"toRegion": STANDBY, "fingerprint": "ffffffffffffffff"}
        response = await a.client.post(
            f"/v1/continuums/{BILLING}/switchover", json=body, headers=AUTH
        )
        assert response.status_code == 409
        assert response.json()["detail"]["reason"] == "fingerprint-mismatch"


async def test_credentials_are_checked_here_and_never_forwarded_without() -> None:
    async with two_replicas() as (a, _, b, _):
        response = await a.client.get(f"/v1/continuums/{BILLING}", headers=OWNER)
        assert response.status_code == 401
        response = await a.client.post(
            f"/v1/continuums/{BILLING}/dry-run", json={"toRegion": STANDBY}, headers=OWNER
        )
        assert response.status_code == 401
        assert b.states[BILLING].received == []


async def test_a_cr_this_replica_runs_is_answered_here_whatever_the_directory_says() -> None:
    async with two_replicas() as (a, da, b, _):
        da.urls[ORDERS] = b.base_url  # a stale view: b does not run orders
        response = await a.client.post(
            f"/v1/continuums/{ORDERS}/dry-run", json={"toRegion": STANDBY}, headers=AUTH
        )
        assert response.status_code == 200
        assert a.states[ORDERS].received == [DryRunRequest(toRegion=STANDBY)]


async def test_a_forwarded_request_is_answered_by_the_replica_that_receives_it() -> None:
    async with two_replicas() as (a, da, b, db):
        ghost = "team-x/ghost"
        da.urls[ghost] = b.base_url  # views that point at each other: one hop, then 404
        db.urls[ghost] = a.base_url
        response = await a.client.get(f"/v1/continuums/{ghost}", headers=AUTH)
        assert response.status_code == 404
        assert ghost in response.json()["error"]


async def test_a_peer_that_does_not_answer_is_a_503_naming_it() -> None:
    async with two_replicas() as (a, da, _, _):
        da.urls[BILLING] = UNREACHABLE
        response = await a.client.get(f"/v1/continuums/{BILLING}", headers=AUTH)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert f"runs on another replica ({UNREACHABLE})" in response.json()["error"]


async def test_without_a_peer_for_the_cr_the_answer_is_404() -> None:
    async with two_replicas() as (a, _, _, _):
        response = await a.client.get("/v1/continuums/team-c/none", headers=AUTH)
        assert response.status_code == 404
        assert "team-c/none" in response.json()["error"]


def _keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200
    return [f"{s['namespace']}/{s['name']}" for s in response.json()]


async def test_the_list_is_the_regions_by_default_and_the_replicas_own_on_request() -> None:
    async with two_replicas() as (a, _, b, db):
        await b.add("team-c/search")
        db.urls[ORDERS] = a.base_url
        for api in (a, b):  # whichever replica answers: the whole region, sorted, once each
            response = await api.client.get("/v1/continuums", headers=AUTH)
            assert _keys(response) == [ORDERS, BILLING, "team-c/search"]
            assert UNREACHABLE_PEERS not in response.headers
        response = await a.client.get("/v1/continuums?scope=replica", headers=AUTH)
        assert _keys(response) == [ORDERS]
        response = await b.client.get("/v1/continuums", params={"scope": "replica"}, headers=AUTH)
        assert _keys(response) == [BILLING, "team-c/search"]
        response = await a.client.get("/v1/continuums?scope=everything", headers=AUTH)
        assert response.status_code == 422


async def test_a_peer_that_does_not_answer_is_named_and_the_rest_is_listed() -> None:
    async with two_replicas() as (a, da, _, _):
        da.others.append(UNREACHABLE)
        response = await a.client.get("/v1/continuums", headers=AUTH)
        assert _keys(response) == [ORDERS, BILLING]
        assert response.headers[UNREACHABLE_PEERS] == UNREACHABLE


async def test_a_listing_asked_by_a_peer_is_this_replicas_own() -> None:
    async with two_replicas() as (a, _, _, _):
        headers = {**AUTH, FORWARDED_BY: "replica-b"}
        response = await a.client.get("/v1/continuums", headers=headers)
        assert _keys(response) == [ORDERS]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ""),
        ({"CONTINUUM_POD_IP": "10.244.1.7"}, "http://10.244.1.7:{port}"),
        ({"CONTINUUM_POD_IP": "fd00::7"}, "http://[fd00::7]:{port}"),
        (
            {"CONTINUUM_POD_IP": "10.244.1.7", "CONTINUUM_API_ADVERTISE_URL": "https://c.x:1"},
            "https://c.x:1",
        ),
    ],
)
def test_the_advertised_url_is_the_setting_or_the_pod_ip_and_the_bound_port(
    env: dict[str, str], expected: str
) -> None:
    sock = bind_listener(Address("127.0.0.1", 0))
    try:
        port = sock.getsockname()[1]
        settings = Settings.from_env(env)
        assert _advertised_api_url(settings, sock) == expected.format(port=port)
        assert _advertised_api_url(settings, None) == ""  # the API is off: nothing to reach
    finally:
        sock.close()
