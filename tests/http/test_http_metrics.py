"""The metrics endpoint serves the project's metrics, named by Prometheus conventions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from continuum import metrics
from continuum.config import Address
from continuum.http import bind_listener, serve_metrics
from tests.http.conftest import AUTH, running_api

pytestmark = pytest.mark.anyio

PROJECT_METRICS = {
    "continuum_lease_held": "gauge",
    "continuum_lease_renew_duration_seconds": "histogram",
    "continuum_switchovers": "counter",
    "continuum_switchover_duration_seconds": "histogram",
    "continuum_switchover_step_duration_seconds": "histogram",
    "continuum_dryrun_runs": "counter",
    "continuum_health_runs": "counter",
    "continuum_audit_outbox_depth": "gauge",
    "continuum_audit_oldest_pending_seconds": "gauge",
    "continuum_audit_outbox_full": "gauge",
    "continuum_audit_blocked_emitters": "gauge",
    "continuum_audit_outbox_store_failing": "gauge",
    "continuum_audit_publish_failures": "counter",
    "continuum_audit_stored": "counter",
    "continuum_audit_duplicates": "counter",
    "continuum_audit_coalesced": "counter",
    "continuum_audit_dropped": "counter",
    "continuum_api_requests": "counter",
    "continuum_api_request_duration_seconds": "histogram",
    "continuum_api_denied": "counter",
    "continuum_actor_mailbox_depth": "gauge",
    "continuum_actor_restarts": "counter",
}


@pytest.fixture
async def metrics_url() -> AsyncIterator[str]:
    """``serve_metrics`` on a free loopback port; its base URL."""
    sock = bind_listener(Address("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(serve_metrics, sock, ready=ready, shutdown_timeout=1.0))
        with anyio.fail_after(10):
            await ready.wait()
        yield url
        tg.cancel_scope.cancel()


@dataclass(frozen=True)
class _Backlog:
    """A backlog as the audit collector reads it (the publisher's status has these)."""

    outbox: int
    oldest_pending_seconds: float = 0.0
    full: bool = False
    blocked_emitters: int = 0
    store_failing: bool = False


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


async def test_metrics_endpoint_serves_every_project_metric_with_its_type(
    metrics_url: str,
) -> None:
    async with running_api() as api:
        metrics.watch_actors(api.supervisor.registry.snapshot)
        metrics.watch_audit(lambda: _Backlog(outbox=0))
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{metrics_url}/metrics")
        finally:
            metrics.unwatch_actors()
            metrics.watch_audit(None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    served = families(response.text)
    for name, kind in PROJECT_METRICS.items():
        assert served.get(name) == kind, name


async def test_every_served_metric_is_prefixed_and_counters_end_in_total(
    metrics_url: str,
) -> None:
    metrics.count_dryrun(blocked=False)
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{metrics_url}/metrics")).text
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("continuum_"), family.name
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_created"):
                assert sample.name.endswith("_total"), sample.name
    assert "python_gc_objects_collected_total" not in text  # not the default registry


async def test_helpers_are_visible_in_the_next_scrape(metrics_url: str) -> None:
    metrics.set_lease_held("team-a/orders", True)
    metrics.observe_step("flip-dns", 0.3)
    metrics.observe_switchover(42.0, result="succeeded")
    metrics.count_health_run("healthy")
    metrics.watch_audit(lambda: _Backlog(outbox=3, oldest_pending_seconds=7.5, full=True))
    try:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{metrics_url}/metrics")).text
    finally:
        metrics.watch_audit(None)
    assert 'continuum_lease_held{continuum="team-a/orders"} 1.0' in text
    assert 'continuum_switchover_step_duration_seconds_count{step="flip-dns"}' in text
    assert 'continuum_switchovers_total{result="succeeded"}' in text
    assert 'continuum_health_runs_total{verdict="healthy"}' in text
    assert "continuum_audit_outbox_depth 3.0" in text
    assert "continuum_audit_oldest_pending_seconds 7.5" in text
    assert "continuum_audit_outbox_full 1.0" in text
    metrics.forget_continuum("team-a/orders")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{metrics_url}/metrics")).text
    assert 'continuum_lease_held{continuum="team-a/orders"}' not in text


async def test_actor_mailbox_depth_and_restarts_are_read_from_the_registry_at_scrape(
    metrics_url: str,
) -> None:
    async with running_api(crs=["team-a/orders", "team-b/billing"]) as api:
        metrics.watch_actors(api.supervisor.registry.snapshot)
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"{metrics_url}/metrics")).text
        finally:
            metrics.unwatch_actors()
    assert 'continuum_actor_mailbox_depth{actor="team-a/orders"} 0.0' in text
    assert 'continuum_actor_mailbox_depth{actor="team-b/billing"} 0.0' in text
    assert 'continuum_actor_restarts_total{actor="team-b/billing"} 0.0' in text


async def test_api_requests_are_counted_by_route_template_not_raw_path(
    metrics_url: str,
) -> None:
    async with running_api() as api:
        await api.client.get("/v1/continuums/team-a/orders", headers=AUTH)
        await api.client.get("/v1/continuums/team-q/unknown-one", headers=AUTH)
        await api.client.get("/v1/continuums", headers={"X-Catalyst-Owner-Tier": "true"})
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{metrics_url}/metrics")).text
    counted = {
        (sample.labels["route"], sample.labels["status"])
        for family in text_string_to_metric_families(text)
        if family.name == "continuum_api_requests"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert ("/v1/continuums/{ns}/{name}", "200") in counted
    assert ("/v1/continuums/{ns}/{name}", "404") in counted
    assert "team-q" not in text
    assert 'continuum_api_denied_total{reason="missing-bearer"}' in text


async def test_metrics_listener_answers_404_outside_metrics(metrics_url: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{metrics_url}/")
    assert response.status_code == 404


def test_world_disagrees_reports_every_kind_per_continuum_until_forgotten() -> None:
    metrics.set_world("team-b/pay", {"DnsMismatch"})
    metrics.set_lease_held("team-b/pay", False)
    text = metrics.exposition()
    for kind in metrics.WORLD_KINDS:
        value = "1.0" if kind == "DnsMismatch" else "0.0"
        assert f'continuum_world_disagrees{{continuum="team-b/pay",kind="{kind}"}} {value}' in text
    assert 'continuum_lease_held{continuum="team-b/pay"} 0.0' in text
    metrics.set_world("team-b/pay", set())
    assert 'kind="DnsMismatch"} 0.0' in metrics.exposition()
    metrics.forget_continuum("team-b/pay")
    assert 'continuum="team-b/pay"' not in metrics.exposition()
