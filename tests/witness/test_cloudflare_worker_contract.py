"""The Worker HTTP contract (lease-witness.md §8.3) as served by ``WorkerSim``, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from continuum.clock import FakeClock
from continuum_sim.cloudflare_worker import WorkerSim

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": "Bearer t0k3n"}
PATH = "/lease/acme%2Fshop"


@pytest.fixture
async def http(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        WorkerSim(tokens=("t0k3n",), clock=clock) as worker,
        httpx.AsyncClient(base_url=worker.url) as client,
    ):
        yield client


def _put(if_match: str, **body: object) -> dict[str, object]:
    return {"headers": {**AUTH, "If-Match": if_match}, "json": body}


async def test_routing_and_auth_errors(http: httpx.AsyncClient) -> None:
    assert (await http.get("/other", headers=AUTH)).json()["error"] == "not_found"
    assert (await http.get("/lease/", headers=AUTH)).status_code == 404
    assert (await http.get(PATH)).status_code == 401
    assert (await http.get(PATH, headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await http.get(PATH, headers={"Authorization": "bearer  t0k3n"})).status_code == 404
    options = await http.options(PATH, headers=AUTH)
    assert options.status_code == 204
    assert options.headers["Allow"] == "GET, PUT, DELETE, OPTIONS"
    assert (await http.post(PATH, headers=AUTH)).json() == {"error": "method_not_allowed"}


async def test_put_validates_body_and_if_match(http: httpx.AsyncClient) -> None:
    ok = {"holder": "fsn", "ttlSeconds": 30, "op": "acquire"}
    cases = [
        ({"headers": {**AUTH, "If-Match": "0"}, "content": b"{"}, "invalid_json"),
        ({"headers": {**AUTH, "If-Match": "0"}, "json": [1]}, "invalid_body"),
        (_put("0", **{**ok, "holder": ""}), "invalid_holder"),
        (_put("0", **{**ok, "ttlSeconds": 0}), "invalid_ttl"),
        (_put("0", **{**ok, "op": "steal"}), "invalid_op"),
        ({"headers": AUTH, "json": ok}, "missing_if_match"),
        (_put("abc", **ok), "invalid_if_match"),
    ]
    for kwargs, error in cases:
        response = await http.put(PATH, **kwargs)  # type: ignore[arg-type]
        assert (response.status_code, response.json()["error"]) == (400, error)


async def test_cas_takeability_and_release_follow_the_contract(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    assert (await http.get(PATH, headers=AUTH)).status_code == 404
    first = await http.put(PATH, **_put('W/"0"', holder="fsn", ttlSeconds=10, op="acquire"))
    assert first.status_code == 200
    assert first.json()["generation"] == 1
    assert first.json()["expiresAt"].endswith("Z")
    stale = await http.put(PATH, **_put("0", holder="hel", ttlSeconds=10, op="acquire"))
    assert (stale.status_code, stale.json()["holder"]) == (412, "fsn")
    held = await http.put(PATH, **_put('"1"', holder="hel", ttlSeconds=10, op="acquire"))
    assert held.status_code == 412
    clock.advance(10)
    renew_late = await http.put(PATH, **_put("1", holder="fsn", ttlSeconds=10, op="renew"))
    assert renew_late.status_code == 412
    taken = await http.put(PATH, **_put("1", holder="hel", ttlSeconds=10, op="acquire"))
    assert (taken.status_code, taken.json()["generation"]) == (200, 2)
    no_holder = await http.delete(PATH, headers={**AUTH, "If-Match": "2"})
    assert no_holder.json()["error"] == "missing_x_holder"
    wrong = await http.delete(PATH, headers={**AUTH, "If-Match": "2", "X-Holder": "fsn"})
    assert wrong.status_code == 412
    gone = await http.delete(PATH, headers={**AUTH, "If-Match": "2", "X-Holder": "hel"})
    assert gone.status_code == 204
    shell = (await http.get(PATH, headers=AUTH)).json()
    assert (shell["holder"], shell["expiresAt"], shell["generation"]) == ("", "", 3)
