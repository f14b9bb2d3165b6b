"""A ``stateless`` Continuum end to end: DryRun, confirm and Execute through the controllers'
HTTP API against the emulated Kubernetes of both regions, the real NATS witness and the real
PowerDNS. The lease, the DNS answers and the route move to the target; no database object is
read or written (the seeded Clusters keep their resourceVersion), and steps 2 and 6 are
no-ops in the DryRun."""

from __future__ import annotations

from pathlib import Path

import pytest

from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, confirm, dns_answers, dry_run, lease

pytestmark = pytest.mark.anyio


def _cluster_versions(stack: SimStack) -> dict[str, str]:
    return {
        region: str(stack.cluster(region)["metadata"]["resourceVersion"])
        for region in stack.spec.regions
    }


@pytest.mark.parametrize("app", ["shop", "billing-api"])
async def test_stateless_execute_moves_lease_dns_and_route_and_touches_no_database(
    tmp_path: Path, app: str
) -> None:
    """Generic across application names: nothing in the run depends on the app's name."""
    spec = StackSpec(drain_seconds=0, mechanism="stateless", app=app)
    async with SimStack(tmp_path, spec=spec) as stack, controllers(stack) as run:
        assert "cnpgPair" not in stack.continuum()["spec"]
        await eventually(lambda: stack.continuum_status(A).get("phase") == "Healthy")
        clusters = _cluster_versions(stack)
        before = await lease(stack)
        assert before.holder == A

        report = await dry_run(run, A, B)
        assert report.get("blockers", []) == [], report
        by_name = {s["name"]: s for s in report["steps"]}
        for noop in ("cordon-old-primary", "promote-new-primary"):
            assert by_name[noop]["preconditionsMet"]
            assert by_name[noop]["estimatedDurationSeconds"] == 0
        accepted = await confirm(run, A, B, report["planFingerprint"])
        assert accepted.status_code == 202, accepted.text
        await eventually(
            lambda: (
                (stack.continuum_status(A).get("lastSwitchover") or {}).get("result") == "Succeeded"
            ),
            what="stateless switchover recorded",
        )
        after = await lease(stack)
        assert after.holder == B
        assert after.generation > before.generation
        assert await dns_answers(stack, B)
        assert stack.serving_regions(A) == {B}
        assert _cluster_versions(stack) == clusters
        assert stack.acting_primaries() == [A]  # the database was never part of it
