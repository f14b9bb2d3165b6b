"""The write gate on the Kubernetes edge (:mod:`continuum.write_gate`), over real HTTP: while
the calling task's gate is shut, a write is refused before anything is sent; reads and the
audit trail's own records still go through."""

from __future__ import annotations

from typing import Any

import pytest

from continuum import write_gate
from continuum.adapters.audit_outbox import ConfigMapOutboxStore
from continuum.adapters.continuums import ContinuumApi
from continuum.clock import FakeClock
from continuum.errors import Unavailable
from continuum.messages.audit import OutboxRecord
from continuum.messages.crd import FINALIZER
from tests.kube.conftest import REGION_A, Regions
from tests.kube.test_kube_continuum_watch import _cr

pytestmark = pytest.mark.anyio


def _stored(regions: Regions) -> dict[str, Any]:
    stored = regions.a.store.get("dr.openova.io", "continuums", "acme", "web")
    assert stored is not None
    return stored


def _shut() -> str:
    return "fenced for the test"


async def test_a_write_under_a_shut_gate_is_refused_and_never_sent(regions: Regions) -> None:
    regions.a.apply(_cr("web"))
    api = ContinuumApi(regions.clients.for_region(REGION_A), clock=FakeClock())
    writes_before = len(regions.a.requests.writes())

    with write_gate.bound(_shut), pytest.raises(Unavailable, match="not written: fenced for"):
        await api.set_finalizer("acme", "web", FINALIZER, present=True)

    assert len(regions.a.requests.writes()) == writes_before
    with write_gate.bound(_shut):
        listed = await api.list_raw("acme")  # a read is not gated
    assert [item["metadata"]["name"] for item in listed.items] == ["web"]
    stored = _stored(regions)
    assert FINALIZER not in (stored["metadata"].get("finalizers") or [])

    with write_gate.bound(lambda: None):  # an open gate lets the same write through
        await api.set_finalizer("acme", "web", FINALIZER, present=True)
    stored = _stored(regions)
    assert FINALIZER in stored["metadata"]["finalizers"]


async def test_the_audit_outbox_writes_under_a_shut_gate(regions: Regions) -> None:
    store = ConfigMapOutboxStore(regions.clients.for_region(REGION_A), namespace="acme", owner="a")
    record = OutboxRecord(name="rec-1", group="g1", accepted_at_ns=1, seq=1, events=())
    with write_gate.bound(_shut):
        await store.write(record)
        assert [r.name for r in await store.load()] == ["rec-1"]
        await store.delete("rec-1")
        assert await store.load() == []
