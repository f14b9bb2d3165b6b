"""``GET …/health`` gives the same answer from every region's instance: after a switchover
A→B the check runs in A's instance (which ran the switchover) and lands in A's CR status; B's
instance — the new writer, whose actor never ran it — answers from the CR status too."""

from __future__ import annotations

import pytest

from continuum_sim.stack import SimStack
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, confirm, dry_run

pytestmark = pytest.mark.anyio


async def test_after_a_switchover_both_instances_answer_health_from_the_cr_status(
    stack: SimStack,
) -> None:
    ns, name = stack.spec.namespace, stack.spec.name
    path = f"/v1/continuums/{ns}/{name}/health"
    async with controllers(stack) as run:
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        body = await dry_run(run, A, B)
        accepted = await confirm(run, A, B, body["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        sid = accepted.json()["id"]
        await eventually(
            lambda: (stack.continuum_status(A).get("lastHealth") or {}).get("switchoverId") == sid,
            what="post-switchover health in A's CR status",
        )
        stored = stack.continuum_status(A)["lastHealth"]
        assert "lastHealth" not in stack.continuum_status(B)  # only A's copy has it
        answers = [(await run.api(region, "GET", path)) for region in (A, B)]
        assert [answer.status_code for answer in answers] == [200, 200]
        from_a, from_b = (answer.json() for answer in answers)
        assert from_a == from_b
        assert from_a["newPrimaryRegion"] == B
        assert from_a["verdict"] == stored["verdict"]
        assert [c["name"] for c in from_a["checks"]] == [c["name"] for c in stored["checks"]]
        assert [c["status"] for c in from_a["checks"]] == [c["status"] for c in stored["checks"]]
