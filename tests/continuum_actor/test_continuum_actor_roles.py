"""The managed-role password re-assert through the ContinuumActor on fake time (controller.md
§7): the acting instance touches its primary's role Secrets once after every change of acting
primary, retries a failed touch on the next observation, and touches nothing while the pair is
ambiguous. The Secrets are a recording fake of the ``RoleSecrets`` port (the Kubernetes
adapter is exercised against the emulator in ``tests/kube/test_kube_role_reassert.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import anyio
import pytest

from continuum.actors.continuum.env import Collaborators
from continuum.clock import FakeClock
from continuum.errors import Unavailable
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


class FakeRoleSecrets:
    """Records every touch as (region, namespace, names, at); ``fail`` refuses the next ones."""

    def __init__(self) -> None:
        self.touches: list[tuple[str, str, tuple[str, ...], datetime]] = []
        self.fail = 0

    async def touch(
        self, region: str, namespace: str, names: Sequence[str], *, at: datetime
    ) -> list[str]:
        await anyio.lowlevel.checkpoint()
        if self.fail:
            self.fail -= 1
            raise Unavailable("patch secrets: HTTP 503", region=region)
        self.touches.append((region, namespace, tuple(names), at))
        return list(names)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    h = Harness(clock=fake_clock)
    h.pair.halves[A].role_secrets = ("shop-app-fsn",)
    h.pair.halves[B].role_secrets = ("shop-app-hel", "shop-report-hel")
    return h


def with_roles(h: Harness, roles: FakeRoleSecrets) -> dict[str, Any]:
    return {
        "collaborators_for": lambda cr: Collaborators(
            pair=h.pair, routes=h.routes, dns=h.dns, verify_dns=h.dns.verify, roles=roles
        )
    }


async def test_the_first_observation_touches_the_acting_primary_once(h: Harness) -> None:
    roles = FakeRoleSecrets()
    async with h.actor(**with_roles(h, roles)) as (_, actor):
        await h.clock.advance_settled(10)
        assert [(r, ns, names) for r, ns, names, _ in roles.touches] == [
            (A, "acme", ("shop-app-fsn",))
        ]
        assert roles.touches[0][3] == h.clock.now()
        assert actor.roles.asserted_for == A
        await h.clock.advance_settled(100)
    assert len(roles.touches) == 1


async def test_a_failed_touch_is_retried_on_the_next_observation(h: Harness) -> None:
    roles = FakeRoleSecrets()
    roles.fail = 2
    async with h.actor(**with_roles(h, roles)) as (_, actor):
        await h.clock.advance_settled(20)
        assert roles.touches == []
        assert actor.roles.asserted_for == ""  # the watermark waits for a success
        await h.clock.advance_settled(10)
        assert len(roles.touches) == 1
        await h.clock.advance_settled(50)
    assert len(roles.touches) == 1


@pytest.mark.parametrize("shape", ["both-primary", "neither-primary"])
async def test_an_ambiguous_pair_touches_nothing(h: Harness, shape: str) -> None:
    fsn, hel = h.pair.halves[A], h.pair.halves[B]
    if shape == "both-primary":
        hel.replica_primary = hel.name
    else:
        fsn.replica_primary = hel.name
    roles = FakeRoleSecrets()
    async with h.actor(**with_roles(h, roles)) as (_, actor):
        await h.clock.advance_settled(10)
        assert roles.touches == []
        assert actor.roles.asserted_for == ""


async def test_a_primary_without_managed_roles_advances_the_watermark_without_a_call(
    h: Harness,
) -> None:
    h.pair.halves[A].role_secrets = ()
    roles = FakeRoleSecrets()
    async with h.actor(**with_roles(h, roles)) as (_, actor):
        await h.clock.advance_settled(30)
        assert actor.roles.asserted_for == A
    assert roles.touches == []


async def test_after_a_switchover_the_new_primarys_instance_touches_once(h: Harness) -> None:
    roles_a, roles_b = FakeRoleSecrets(), FakeRoleSecrets()
    async with h.actor(**with_roles(h, roles_a)) as (ref, _):
        await h.clock.advance_settled(10)
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await h.clock.advance_settled(15)
        assert (await h.witness().read(KEY)).holder == B
        await h.clock.advance_settled(30)
    assert [names for _, _, names, _ in roles_a.touches] == [("shop-app-fsn",)]
    async with h.actor(h.with_status(make_cr()), region=B, **with_roles(h, roles_b)):
        await h.clock.advance_settled(60)
    assert [(r, names) for r, _, names, _ in roles_b.touches] == [
        (B, ("shop-app-hel", "shop-report-hel"))
    ]
