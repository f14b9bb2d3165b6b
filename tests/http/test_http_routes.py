"""Every route through a real uvicorn server: what each answers, and how actor failures map."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest

from continuum.messages.requests import DryRunRequest, HealthRequest, SwitchoverRequest
from tests.http.conftest import AUTH, ApiUnderTest, running_api
from tests.http.fake_continuum import FINGERPRINT, PRIMARY, STANDBY

pytestmark = pytest.mark.anyio

CR = "/v1/continuums/team-a/orders"


async def test_healthz_answers_ok_as_text_without_credentials(api: ApiUnderTest) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["content-type"].startswith("text/plain")


async def test_readyz_is_200_on_a_synced_leader_with_audit_ready(api: ApiUnderTest) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "reasons": []}


async def test_readyz_is_503_with_every_reason_that_applies(api: ApiUnderTest) -> None:
    api.readiness.is_leader = False
    api.readiness.watch_synced = False
    api.readiness.audit_ready = lambda: False
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "reasons": ["not-leader", "watch-not-synced", "audit-not-ready"],
    }


async def test_readyz_reports_audit_not_ready_when_the_audit_check_raises(
    api: ApiUnderTest,
) -> None:
    def broken() -> bool:
        raise RuntimeError("outbox unreadable")

    api.readiness.audit_ready = broken
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["audit-not-ready"]


async def test_dry_run_returns_the_actors_report_and_passes_the_body_as_the_request(
    api: ApiUnderTest,
) -> None:
    body = {"toRegion": STANDBY, "reason": "maintenance"}
    response = await api.client.post(f"{CR}/dry-run", json=body, headers=AUTH)
    assert response.status_code == 200
    report = response.json()
    assert report["planFingerprint"] == FINGERPRINT
    assert [s["step"] for s in report["steps"]] == [1, 2, 3, 4, 5, 6, 7]
    assert report["steps"][0]["name"] == "validate-lease"
    assert api.states["team-a/orders"].received == [
        DryRunRequest(toRegion=STANDBY, reason="maintenance")
    ]


async def test_health_returns_the_latest_report_and_fresh_asks_for_a_new_one(
    api: ApiUnderTest,
) -> None:
    first = await api.client.get(f"{CR}/health", headers=AUTH)
    fresh = await api.client.get(f"{CR}/health", params={"fresh": "true"}, headers=AUTH)
    assert first.status_code == fresh.status_code == 200
    assert first.json()["verdict"] == "healthy"
    assert [c["name"] for c in first.json()["checks"]] == [
        "replicas-healthy",
        "dns-probes",
        "latency-normal",
        "audit-posted",
    ]
    assert api.states["team-a/orders"].received == [
        HealthRequest(fresh=False),
        HealthRequest(fresh=True),
    ]


async def test_get_one_continuum_returns_its_summary(api: ApiUnderTest) -> None:
    response = await api.client.get(CR, headers=AUTH)
    assert response.status_code == 200
    summary = response.json()
    assert summary["namespace"] == "team-a"
    assert summary["name"] == "orders"
    assert summary["actingPrimary"] == PRIMARY
    assert summary["leaseExpiresAt"] == "2026-01-01T00:00:30Z"


async def test_list_asks_every_actor_and_returns_summaries_sorted_by_namespace_and_name() -> None:
    crs = [f"team-{i}/app-{i}" for i in range(20)]
    async with running_api(crs=crs) as api:
        response = await api.client.get("/v1/continuums", headers=AUTH)
        assert response.status_code == 200
        assert [f"{s['namespace']}/{s['name']}" for s in response.json()] == sorted(crs)
        mine = await api.client.get("/v1/continuums?scope=replica", headers=AUTH)
        assert mine.json() == response.json()  # not sharded: the replica's list is the region's


async def test_list_shows_an_actor_that_cannot_answer_with_phase_unknown() -> None:
    async with running_api(crs=["team-a/orders", "team-b/billing"]) as api:
        api.states["team-b/billing"].mode = "crash"
        crashed = await api.client.post(
            "/v1/continuums/team-b/billing/dry-run", json={"toRegion": STANDBY}, headers=AUTH
        )
        assert crashed.status_code == 503
        response = await api.client.get("/v1/continuums", headers=AUTH)
    assert response.status_code == 200
    by_key = {f"{s['namespace']}/{s['name']}": s for s in response.json()}
    assert by_key["team-a/orders"]["phase"] == "Ready"
    assert by_key["team-b/billing"]["phase"] == "Unknown"


async def test_switchover_with_the_current_fingerprint_is_accepted_with_202(
    api: ApiUnderTest,
) -> None:
    body = {"toRegion": STANDBY, "fingerprint": FINGERPRINT, "reason": "drill"}
    response = await api.client.post(f"{CR}/switchover", json=body, headers=AUTH)
    assert response.status_code == 202
    assert response.json() == {
        "id": "so-0001",
        "fromRegion": PRIMARY,
        "toRegion": STANDBY,
        "planFingerprint": FINGERPRINT,
    }
    assert api.states["team-a/orders"].received == [
        SwitchoverRequest(
            toRegion=STANDBY, fingerprint=FINGERPRINT, reason="drill", initiatedBy="api"
        )
    ]


async def test_switchover_with_a_stale_fingerprint_is_409_with_the_current_report(
    api: ApiUnderTest,
) -> None:
    body = {"toRegion": STANDBY, "fingerprint": "ffffffffffffffff"}
    response = await api.client.post(f"{CR}/switchover", json=body, headers=AUTH)
    assert response.status_code == 409
    payload = response.json()
    assert payload["error"]
    assert payload["detail"]["reason"] == "fingerprint-mismatch"
    assert payload["detail"]["report"]["planFingerprint"] == FINGERPRINT


async def test_switchover_with_blockers_is_409_even_with_the_right_fingerprint() -> None:
    async with running_api(crs=[]) as api:
        await api.add("team-a/orders", blockers=["standby not in sync"])
        body = {"toRegion": STANDBY, "fingerprint": FINGERPRINT}
        response = await api.client.post(f"{CR}/switchover", json=body, headers=AUTH)
    assert response.status_code == 409
    assert response.json()["detail"]["reason"] == "blocked"
    assert response.json()["detail"]["report"]["blockers"] == ["standby not in sync"]


async def test_unknown_continuum_is_404_naming_it(api: ApiUnderTest) -> None:
    for method, path in [
        ("GET", "/v1/continuums/team-z/ghost"),
        ("GET", "/v1/continuums/team-z/ghost/health"),
    ]:
        response = await api.client.request(method, path, headers=AUTH)
        assert response.status_code == 404
        assert response.json() == {"error": "Continuum team-z/ghost not found", "detail": None}
    response = await api.client.post(
        "/v1/continuums/team-z/ghost/dry-run", json={"toRegion": STANDBY}, headers=AUTH
    )
    assert response.status_code == 404
    assert "team-z/ghost" in response.json()["error"]


async def test_bad_request_reply_is_422(api: ApiUnderTest) -> None:
    response = await api.client.post(f"{CR}/dry-run", json={"toRegion": PRIMARY}, headers=AUTH)
    assert response.status_code == 422
    error = f"{PRIMARY} is already the acting primary"
    assert response.json() == {
        "error": error,
        "detail": [{"field": "body.toRegion", "message": error}],
    }


async def test_every_422_names_a_field_in_detail(api: ApiUnderTest) -> None:
    cases = [
        ("post", f"{CR}/dry-run", {"toRegion": "nowhere"}),
        ("post", f"{CR}/dry-run", {"toRegion": PRIMARY}),
        ("post", f"{CR}/dry-run", {"toRegion": 3}),
        ("post", f"{CR}/dry-run", {"toRegion": STANDBY, "typo": 1}),
        ("post", f"{CR}/switchover", {"toRegion": "nowhere", "fingerprint": "x"}),
        ("post", f"{CR}/switchover", {}),
        ("get", f"{CR}/health?fresh=maybe", None),
    ]
    for method, path, body in cases:
        kwargs: dict[str, Any] = {"headers": AUTH}
        if body is not None:
            kwargs["json"] = body
        response = await getattr(api.client, method)(path, **kwargs)
        assert response.status_code == 422, (path, body, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, list), (path, body, detail)
        assert detail, (path, body)
        for item in detail:
            assert re.fullmatch(r"(body|path|query)(\.[A-Za-z_][\w\[\]\.]*)?", item["field"]), item


async def test_spec_not_valid_reply_is_409(api: ApiUnderTest) -> None:
    api.states["team-a/orders"].mode = "spec-invalid"
    response = await api.client.post(f"{CR}/dry-run", json={"toRegion": STANDBY}, headers=AUTH)
    assert response.status_code == 409
    assert response.json() == {"error": "spec.regions: need two regions", "detail": None}


async def test_not_ready_reply_is_503_with_retry_after(api: ApiUnderTest) -> None:
    api.states["team-a/orders"].mode = "not-ready"
    response = await api.client.post(f"{CR}/dry-run", json={"toRegion": STANDBY}, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"] == "witness not read yet"


async def test_dead_actor_is_503_with_retry_after(api: ApiUnderTest) -> None:
    api.states["team-a/orders"].mode = "crash"
    crashed = await api.client.post(f"{CR}/dry-run", json={"toRegion": STANDBY}, headers=AUTH)
    # The supervisor's restart backoff runs on the fake clock: the key stays on the dead ref,
    # whose view is gone with it.
    after = await api.client.get(CR, headers=AUTH)
    for response in (crashed, after):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"] == "the Continuum's actor is restarting; retry"


async def test_actor_that_does_not_answer_within_the_ask_timeout_is_504() -> None:
    async with running_api(ask_timeout=5.0) as api:
        state = api.states["team-a/orders"]
        state.mode = "hang"
        async with anyio.create_task_group() as tg:
            responses = []

            async def call() -> None:
                body = {"toRegion": STANDBY}
                responses.append(await api.client.post(f"{CR}/dry-run", json=body, headers=AUTH))

            tg.start_soon(call)
            with anyio.fail_after(5):
                await state.hanging.wait()
            await api.clock.advance_settled(5.0)
    assert responses[0].status_code == 504
    assert responses[0].json() == {
        "error": "the Continuum's actor did not answer in time",
        "detail": None,
    }


async def test_the_summary_is_served_while_the_actor_is_stuck_in_a_message() -> None:
    """``GET`` reads the actor's view, never its mailbox: a message awaiting a hung server
    (here a DryRun) does not hold it."""
    async with running_api(ask_timeout=5.0) as api:
        state = api.states["team-a/orders"]
        state.mode = "hang"
        async with anyio.create_task_group() as tg:
            body = {"toRegion": STANDBY}

            async def preview() -> None:
                await api.client.post(f"{CR}/dry-run", json=body, headers=AUTH)

            tg.start_soon(preview)
            with anyio.fail_after(5):
                await state.hanging.wait()
            with anyio.fail_after(5):
                got = await api.client.get(CR, headers=AUTH)
            assert got.status_code == 200
            assert got.json()["acting"] is True
            state.release.set()


async def test_non_leader_answers_every_v1_route_with_503_and_retry_after() -> None:
    async with running_api(leader=False) as api:
        calls = [
            ("GET", "/v1/continuums", None),
            ("GET", CR, None),
            ("GET", f"{CR}/health", None),
            ("POST", f"{CR}/dry-run", {"toRegion": STANDBY}),
            ("POST", f"{CR}/switchover", {"toRegion": STANDBY, "fingerprint": FINGERPRINT}),
        ]
        for method, path, body in calls:
            response = await api.client.request(method, path, json=body, headers=AUTH)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "5"
            assert "not the leader" in response.json()["error"]
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert api.states["team-a/orders"].received == []
