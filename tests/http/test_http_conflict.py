"""The API for a Continuum in conflict with an earlier one (it has no actor): GET shows the
``Conflict``, dry-run is blocked at step 1 naming the owner, a switchover is refused with 409
reason ``conflict``, health is 409. A CR with an actor is answered by its actor as before."""

from __future__ import annotations

import pytest

from continuum.core.ownership import Claim, Conflict
from continuum.supervisor.conflicts import Conflicts
from tests.http.conftest import AUTH, running_api
from tests.http.fake_continuum import STANDBY

pytestmark = pytest.mark.anyio

COPY = "/v1/continuums/team-a/orders-copy"
CONFLICT = Conflict(
    key="team-a/orders-copy", owner="team-a/orders", claim=Claim("spec.cnpgPair", "team-a/db")
)


async def test_a_cr_in_conflict_is_answered_with_its_conflict_on_every_route() -> None:
    conflicts = Conflicts()
    conflicts.replace({CONFLICT.key: CONFLICT})
    async with running_api(conflicts=conflicts) as api:
        got = await api.client.get(COPY, headers=AUTH)
        assert got.status_code == 200
        assert got.json()["phase"] == "Failed"
        assert got.json()["acting"] is False
        [cond] = got.json()["conditions"]
        assert cond["type"] == "Conflict"
        assert cond["status"] == "True"
        assert "team-a/orders" in cond["message"]
        assert "spec.cnpgPair" in cond["message"]

        dry = await api.client.post(f"{COPY}/dry-run", json={"toRegion": "b"}, headers=AUTH)
        assert dry.status_code == 200
        report = dry.json()
        assert len(report["steps"]) == 7
        [blocker] = report["blockers"]
        assert blocker.startswith("step-1: spec.cnpgPair: team-a/db is owned by")
        assert "Continuum team-a/orders" in blocker

        body = {"toRegion": "b", "fingerprint": "0" * 16}
        refused = await api.client.post(f"{COPY}/switchover", json=body, headers=AUTH)
        assert refused.status_code == 409
        assert refused.json()["detail"]["reason"] == "conflict"
        assert "team-a/orders" in refused.json()["detail"]["message"]
        assert refused.json()["detail"]["report"]["blockers"] == [blocker]

        health = await api.client.get(f"{COPY}/health", headers=AUTH)
        assert health.status_code == 409
        assert "team-a/orders" in health.json()["error"]

        # The owner has an actor and is answered by it (its view; its DryRun by a message).
        owner = await api.client.get("/v1/continuums/team-a/orders", headers=AUTH)
        assert owner.status_code == 200
        assert owner.json()["phase"] != "Failed"
        assert owner.json()["leaseGeneration"] == 7  # the canned actor's own summary
        dry = await api.client.post(
            "/v1/continuums/team-a/orders/dry-run", json={"toRegion": STANDBY}, headers=AUTH
        )
        assert dry.status_code == 200
        assert api.states["team-a/orders"].received


async def test_without_a_conflict_an_unknown_cr_is_still_404() -> None:
    async with running_api(conflicts=Conflicts()) as api:
        got = await api.client.get(COPY, headers=AUTH)
        assert got.status_code == 404
