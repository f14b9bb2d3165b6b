"""Issue 13: the records name the holder, but real pdns answers the standby group because the
holder's health URL fails (``ifurlup``'s fallback). The holder's instance reports it as its own
condition (``DnsServesHolder=False``, reason ``ServingFallback``, phase ``Degraded``) naming the
hostname, the address served and the health URL — and never "repairs" it: the zone is not
written, no convergence is audited. When the health URL answers again, the report clears.

Real pdns health-checks in real time (1 s interval) and the controllers run on real timers
(renew 2 s), so every wait is a bounded poll of the servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from continuum.messages.audit import AuditType
from continuum.messages.status import COND_DNS_SERVES_HOLDER
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.conftest import controllers, eventually
from tests.e2e.helpers import A, B, audit_events, dns_answers, zone_state

pytestmark = pytest.mark.anyio

RENEW = 2


def _serving(stack: SimStack, region: str) -> dict[str, Any]:
    for cond in stack.continuum_status(region).get("conditions") or []:
        if cond["type"] == COND_DNS_SERVES_HOLDER:
            return dict(cond)
    return {}


async def test_fallback_served_by_pdns_is_reported_not_repaired_and_clears(
    tmp_path: Path,
) -> None:
    spec = StackSpec(drain_seconds=0, ttl_seconds=10, renew_seconds=RENEW)
    async with SimStack(tmp_path, spec=spec) as stack, controllers(stack) as run:
        assert run.ports  # both instances up
        await eventually(
            lambda: (
                stack.continuum_status(A).get("phase") == "Healthy"
                and _serving(stack, A).get("status") == "True"
            ),
            what="A Healthy, DNS serving A",
        )
        zone_before = await zone_state(stack)

        stack.app.set_healthy(A, False)  # A's health URL now answers 503
        await eventually(lambda: dns_answers(stack, B), what="pdns falls back to B's group")
        await eventually(
            lambda: _serving(stack, A).get("status") == "False",
            what="A reports the fallback",
        )
        cond = _serving(stack, A)
        assert cond["reason"] == "ServingFallback"
        health_url = f"http://probe-{A}.{spec.zone}:{stack.app.port}/healthz"
        for part in (*spec.hostnames, *spec.ips[B], health_url):
            assert part in cond["message"], (part, cond["message"])
        status = stack.continuum_status(A)
        assert status["phase"] == "Degraded"
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "False"
        assert "DnsServingFallback" in ready["message"]
        converged = next(c for c in status["conditions"] if c["type"] == "Converged")
        assert converged["status"] == "True"  # the records agree: nothing to converge

        # Not repaired: the zone unchanged, no convergence audited.
        assert await zone_state(stack) == zone_before
        repairs = [
            e.reason
            for e in await audit_events(stack)
            if e.type is AuditType.ERROR and e.reason.startswith("converged-")
        ]
        assert repairs == []

        stack.app.set_healthy(A, True)
        await eventually(lambda: dns_answers(stack, A), what="pdns answers A again")
        await eventually(
            lambda: (
                _serving(stack, A).get("status") == "True"
                and stack.continuum_status(A).get("phase") == "Healthy"
            ),
            what="the report clears",
        )
        assert _serving(stack, A)["reason"] == "AnswersHolder"
        assert await zone_state(stack) == zone_before
