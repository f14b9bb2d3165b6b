"""The managed-role password re-assert over real HTTP (controller.md §7, integrations.md §1.4):
two ContinuumActors, one per region, with the real ``CnpgPair`` and ``KubeRoleSecrets``
adapters against two emulated regions while the CNPG operator emulation plays the operator;
the routes, DNS and witness are the actor suite's fakes. A planned switchover A→B through
the acting actor; the Secrets are counted at the emulators (their request logs).

The CNPG emulation does not model managed roles (it never reads the Secrets), so what is
asserted is the contract CNPG relies on: each touch is one merge patch that changes the
Secret's ``resourceVersion`` and annotation and never its data."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from continuum.actors.continuum.env import Collaborators
from continuum.adapters.cnpg import (
    PAIR_LABEL,
    CnpgPair,
    managed_role_password_secrets,
    parse_half,
)
from continuum.adapters.role_secrets import REASSERT_ANNOTATION, KubeRoleSecrets
from continuum.clock import FakeClock
from continuum.errors import KubeError
from continuum.messages.crd import Continuum
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from continuum.messages.switchover import ObjectRef
from continuum_sim.cnpg import CnpgOperator
from tests.continuum_actor.harness import KEY, Harness, RecordingStatusStore, make_cr
from tests.kube.conftest import REGION_A, REGION_B, Regions, autojumping

pytestmark = pytest.mark.anyio

NS = "acme"
NAMES = {REGION_A: "shop-pg-fsn", REGION_B: "shop-pg-hel"}
APP_SECRET = "shop-app-password"
MISSING_SECRET = "shop-report-password"  # declared by a role, never minted: skipped
PASSWORD = base64.b64encode(b"s3cret").decode()


def _cluster(region: str) -> dict[str, Any]:
    me, other = NAMES[region], NAMES[REGION_B if region == REGION_A else REGION_A]
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": me, "namespace": NS, "labels": {PAIR_LABEL: "shop-pg"}},
        "spec": {
            "instances": 2,
            "replica": {"primary": NAMES[REGION_A], "self": me, "source": other},
            "managed": {
                "roles": [
                    {"name": "app", "login": True, "passwordSecret": {"name": APP_SECRET}},
                    {"name": "report", "passwordSecret": {"name": MISSING_SECRET}},
                    {"name": "app_ro", "passwordSecret": {"name": APP_SECRET}},
                    {"name": "nologin"},
                ]
            },
        },
    }


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": APP_SECRET, "namespace": NS},
        "type": "kubernetes.io/basic-auth",
        "data": {"username": base64.b64encode(b"app").decode(), "password": PASSWORD},
    }


def _touches(regions: Regions, region: str) -> int:
    """Writes to the role Secret that the region's API server accepted."""
    log = regions.emulator(region).requests
    return sum(
        1
        for r in log.writes()
        if r.resource == "secrets" and r.name == APP_SECRET and 200 <= r.status < 300
    )


def _stored_secret(regions: Regions, region: str) -> dict[str, Any]:
    stored = regions.emulator(region).store.get("", "secrets", NS, APP_SECRET)
    assert stored is not None
    return stored


async def _until(clock: FakeClock, check: Callable[[], bool], what: str) -> None:
    """Let fake time run until ``check`` holds; fail naming ``what`` after 30 real seconds."""
    with anyio.move_on_after(30):
        while not check():
            await clock.sleep(1)
        return
    raise AssertionError(f"never happened: {what}")


@asynccontextmanager
async def _world(
    regions: Regions,
) -> AsyncIterator[tuple[Harness, FakeClock, Callable[[Continuum], Collaborators]]]:
    clock = FakeClock()
    for region in (REGION_A, REGION_B):
        regions.emulator(region).apply(_cluster(region))
        regions.emulator(region).apply(_secret())
    h = Harness(clock=clock)

    def collaborators(cr: Continuum) -> Collaborators:
        pair = CnpgPair(
            regions.clients,
            pair=ObjectRef(name="shop-pg", namespace=NS),
            regions=[REGION_A, REGION_B],
            clock=clock,
            poll_interval=0.5,
        )
        roles = KubeRoleSecrets(regions.clients)
        return Collaborators(
            pair=pair, routes=h.routes, dns=h.dns, verify_dns=h.dns.verify, roles=roles
        )

    async with (
        autojumping(clock),
        CnpgOperator(regions.clients, clock=clock, demotion_delay=2, promotion_delay=3) as op,
    ):
        await op.wait_synced()
        yield h, clock, collaborators


async def test_after_a_switchover_the_new_primarys_role_secret_is_touched_exactly_once(
    regions: Regions,
) -> None:
    async with (
        _world(regions) as (h, clock, collab),
        h.actor(make_cr(), region=REGION_A, collaborators_for=collab) as (ref, _),
        h.actor(
            make_cr(), region=REGION_B, collaborators_for=collab, status=RecordingStatusStore()
        ),
    ):
        await _until(clock, lambda: _touches(regions, REGION_A) == 1, "A's first touch")
        await clock.sleep(60)  # six more observations of both instances
        assert (_touches(regions, REGION_A), _touches(regions, REGION_B)) == (1, 0)
        a_version = _stored_secret(regions, REGION_A)["metadata"]["resourceVersion"]
        b_version = _stored_secret(regions, REGION_B)["metadata"]["resourceVersion"]

        report = await ref.ask(DryRunRequest(toRegion=REGION_B))
        assert report.blockers == [], report.blockers
        await ref.ask(SwitchoverRequest(toRegion=REGION_B, fingerprint=report.planFingerprint))
        await _until(clock, lambda: _touches(regions, REGION_B) == 1, "B's touch")
        assert (await h.witness().read(KEY)).holder == REGION_B
        await clock.sleep(60)  # six more observations: no re-touch anywhere
        assert (_touches(regions, REGION_A), _touches(regions, REGION_B)) == (1, 1)

    touched = _stored_secret(regions, REGION_B)
    assert touched["metadata"]["resourceVersion"] != b_version
    assert touched["metadata"]["annotations"][REASSERT_ANNOTATION].endswith("Z")
    assert touched["data"] == _secret()["data"]  # never the data
    assert _stored_secret(regions, REGION_A)["metadata"]["resourceVersion"] == a_version
    patches = [
        r
        for r in regions.emulator(REGION_B).requests.writes()
        if r.resource == "secrets" and r.name == APP_SECRET
    ]
    assert [(r.verb, r.status) for r in patches] == [("patch", 200)]
    missing = [
        r
        for region in (REGION_A, REGION_B)
        for r in regions.emulator(region).requests
        if r.resource == "secrets" and r.name == MISSING_SECRET
    ]
    assert {r.status for r in missing} == {404}  # tried, skipped, never created


# --- the adapter alone (integrations.md §1.4) ------------------------------------------------

AT = datetime(2026, 1, 1, 12, 0, 0, 250_000, tzinfo=UTC)


def test_managed_role_secrets_are_parsed_in_spec_order_without_duplicates() -> None:
    assert managed_role_password_secrets(_cluster(REGION_A)) == (APP_SECRET, MISSING_SECRET)
    assert managed_role_password_secrets({"spec": {"instances": 1}}) == ()
    assert managed_role_password_secrets({"spec": {"managed": {"roles": [{"name": "x"}]}}}) == ()
    half = parse_half(REGION_A, _cluster(REGION_A))
    assert half.role_secrets == (APP_SECRET, MISSING_SECRET)


async def test_a_touch_changes_the_resource_version_and_annotation_never_the_data(
    regions: Regions,
) -> None:
    regions.a.apply(_secret())
    before = _stored_secret(regions, REGION_A)
    roles = KubeRoleSecrets(regions.clients)
    touched = await roles.touch(REGION_A, NS, [APP_SECRET, MISSING_SECRET], at=AT)
    assert touched == [APP_SECRET]  # the missing one skipped silently
    after = _stored_secret(regions, REGION_A)
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    assert after["metadata"]["annotations"] == {REASSERT_ANNOTATION: "2026-01-01T12:00:00.250000Z"}
    assert after["data"] == before["data"]
    # Sub-second stamps: a second touch within the same second still changes the Secret.
    await roles.touch(REGION_A, NS, [APP_SECRET], at=AT + timedelta(milliseconds=1))
    again = _stored_secret(regions, REGION_A)
    assert again["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]
    assert regions.b.store.get("", "secrets", NS, APP_SECRET) is None  # region A's API only
    assert await roles.touch(REGION_A, NS, [], at=AT) == []


async def test_a_refused_touch_is_raised_after_every_secret_was_tried(regions: Regions) -> None:
    regions.a.apply(_secret())
    other = {**_secret(), "metadata": {"name": "shop-other", "namespace": NS}}
    regions.a.apply(other)
    regions.a.faults.fail(method="PATCH", resource="secrets", name=APP_SECRET, status=403)
    roles = KubeRoleSecrets(regions.clients)
    with pytest.raises(KubeError, match="403") as caught:
        await roles.touch(REGION_A, NS, [APP_SECRET, "shop-other"], at=AT)
    assert caught.value.region == REGION_A
    stored = regions.a.store.get("", "secrets", NS, "shop-other")
    assert stored is not None
    assert REASSERT_ANNOTATION in stored["metadata"]["annotations"]
