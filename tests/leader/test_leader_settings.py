"""Construction of an elector: identity, Lease namespace, settings and their bounds."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from continuum.clock import FakeClock
from continuum.config import Settings
from continuum.leader.elector import (
    FALLBACK_NAMESPACE,
    LeaderElector,
    lease_namespace,
    make_identity,
)


@pytest.fixture
async def api() -> AsyncIterator[client.ApiClient]:
    """A client that is never called (construction only)."""
    async with client.ApiClient() as api_client:
        yield api_client


def test_identity_is_the_pod_name_plus_a_random_suffix() -> None:
    first, second = make_identity("continuum-7d9f-abcde"), make_identity("continuum-7d9f-abcde")

    assert re.fullmatch(r"continuum-7d9f-abcde_[0-9a-f]{8}", first)
    assert first != second


def test_lease_namespace_prefers_setting_then_service_account_then_fallback(
    tmp_path: Path,
) -> None:
    sa = tmp_path / "namespace"
    sa.write_text("dr-system\n")

    assert lease_namespace("explicit", service_account_file=sa) == "explicit"
    assert lease_namespace("", service_account_file=sa) == "dr-system"
    assert lease_namespace("", service_account_file=tmp_path / "absent") == FALLBACK_NAMESPACE


@pytest.mark.parametrize(
    ("lease", "deadline", "retry"),
    [(15, 15, 5), (15, 20, 5), (15, 10, 10), (15, 10, 0), (15, 10, -1)],
)
@pytest.mark.anyio
async def test_elector_refuses_bounds_that_break_retry_lt_deadline_lt_lease(
    api: client.ApiClient, lease: float, deadline: float, retry: float
) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        LeaderElector(
            api,
            name="l",
            namespace="n",
            identity="me",
            clock=FakeClock(),
            lease_duration=lease,
            renew_deadline=deadline,
            retry_period=retry,
        )


@pytest.mark.anyio
async def test_from_settings_uses_lease_name_namespace_durations_and_a_third_for_retry(
    api: client.ApiClient,
) -> None:
    settings = Settings.from_env(
        {
            "CONTINUUM_LEADER_LEASE_NAME": "ctl",
            "CONTINUUM_LEADER_LEASE_NAMESPACE": "dr",
            "CONTINUUM_LEADER_LEASE_SECONDS": "30",
            "CONTINUUM_LEADER_RENEW_DEADLINE": "20",
        }
    )
    elector = LeaderElector.from_settings(settings, api, clock=FakeClock(), identity="pod_1")

    assert (elector.name, elector.namespace, elector.identity) == ("ctl", "dr", "pod_1")
    assert (elector.lease_duration, elector.renew_deadline) == (30.0, 20.0)
    assert elector.retry_period == pytest.approx(10.0)
    assert not elector.is_leader


@pytest.mark.anyio
async def test_default_retry_period_is_at_most_half_the_renew_deadline(
    api: client.ApiClient,
) -> None:
    elector = LeaderElector(
        api, name="l", namespace="n", identity="me", clock=FakeClock(), renew_deadline=4
    )

    assert elector.retry_period == pytest.approx(2.0)
