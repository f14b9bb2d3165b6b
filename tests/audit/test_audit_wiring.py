"""The audit edge as the wiring opens it: a required audit without a NATS URL is refused
naming the variable; without NATS and not required, events go to the log (not durable)."""

from __future__ import annotations

from typing import cast

import pytest

from continuum.adapters.kube import KubeClients
from continuum.clock import FakeClock
from continuum.config import ConfigError, Settings
from continuum.wiring.edges import LogAuditSink, open_audit

pytestmark = pytest.mark.anyio

# Neither path below reaches the Kubernetes API: both decide on the settings alone.
NO_KUBE = cast(KubeClients, None)


async def test_a_required_audit_without_a_nats_url_is_refused_naming_the_variable() -> None:
    """TestNewJetStreamPublisher_RequiresURL."""
    settings = Settings.from_env({"CONTINUUM_AUDIT_REQUIRED": "true"})
    with pytest.raises(ConfigError) as raised:
        async with open_audit(settings, NO_KUBE, clock=FakeClock()):
            pytest.fail("the audit edge opened without a NATS URL")
    assert raised.value.variable == "CONTINUUM_NATS_URL"
    assert "CONTINUUM_AUDIT_REQUIRED" in str(raised.value)


async def test_without_a_nats_url_events_go_to_the_log_and_readiness_holds() -> None:
    settings = Settings.from_env({})
    async with open_audit(settings, NO_KUBE, clock=FakeClock()) as edge:
        assert isinstance(edge.audit, LogAuditSink)
        assert edge.audit_ready()
        assert edge.audit_tail is None
