"""The switchover plan: defaults and validation (``spec/switchover.md`` §1, fixed per the gaps).

The shape itself is :class:`continuum.messages.switchover.Plan` (it is persisted in the
journal). Decisions: ``drain_seconds == 0`` means no drain wait (the reference silently
replaced 0 by 10); the DNS zone defaults to the first hostname's parent; ``raft-transition``
is not a mechanism of this port.
"""

from __future__ import annotations

import msgspec

from continuum.errors import InvalidSpec
from continuum.messages.switchover import DnsPlan, Mechanism, Plan
from continuum.switchover.lua import LuaSynthesisParams

__all__ = ["Plan", "lua_params", "prepare", "validate", "with_defaults"]


def with_defaults(plan: Plan) -> Plan:
    """``plan`` with derived defaults filled: the DNS zone from the first hostname (text after
    the first dot) when empty. Pure; everything else already defaults in the Struct."""
    if plan.dns is not None and not plan.dns.zone and plan.dns.hostnames:
        first = plan.dns.hostnames[0]
        zone = first.split(".", 1)[1] if "." in first else first
        plan = msgspec.structs.replace(plan, dns=msgspec.structs.replace(plan.dns, zone=zone))
    return plan


def validate(plan: Plan) -> None:
    """Raise :class:`~continuum.errors.InvalidSpec` (``field`` names the culprit) unless the
    plan can be executed at all. Observed state (lease, pair, route, IPs) is not consulted:
    that is what the step preconditions do."""
    if not plan.continuum_name:
        raise InvalidSpec("continuumName", "plan: ContinuumName is required")
    if not plan.from_region or not plan.to_region:
        raise InvalidSpec("fromRegion", "plan: FromRegion and ToRegion are required")
    if plan.from_region == plan.to_region:
        raise InvalidSpec("toRegion", "plan: FromRegion == ToRegion (no-op)")
    if plan.mechanism is Mechanism.CNPG_PAIR and (
        plan.pair is None or not plan.pair.name or not plan.pair.namespace
    ):
        raise InvalidSpec("cnpgPair", "plan: cnpg-pair mechanism needs pair name and namespace")
    if plan.route is not None and (not plan.route.name or not plan.route.namespace):
        raise InvalidSpec("httpRoute", "plan: HTTPRoute needs name and namespace")
    if plan.drain_seconds < 0:
        raise InvalidSpec("drainSeconds", "plan: drain seconds must be >= 0")
    if not plan.lease_ttl_seconds > 0:
        raise InvalidSpec("leaseTtlSeconds", "plan: lease TTL must be > 0")
    if plan.epoch < 0:
        raise InvalidSpec("epoch", "plan: epoch must be >= 0")
    if plan.dns is None:
        raise InvalidSpec("dns", "plan: DNS (zone, hostnames, region IPs) is required")
    if not plan.dns.hostnames:
        raise InvalidSpec("dns.hostnames", "plan: at least one hostname is required")
    if not plan.dns.zone:
        raise InvalidSpec("dns.zone", "plan: DNS zone is required")
    for name, seconds in msgspec.structs.asdict(plan.timeouts).items():
        if not seconds > 0:
            raise InvalidSpec(f"timeouts.{name}", "plan: timeouts must be > 0")


def prepare(plan: Plan) -> Plan:
    """:func:`with_defaults` then :func:`validate`; returns the plan Execute and DryRun use."""
    plan = with_defaults(plan)
    validate(plan)
    return plan


def lua_params(dns: DnsPlan, primary_region: str) -> LuaSynthesisParams:
    """The LUA-synthesis input making ``primary_region`` the primary."""
    return LuaSynthesisParams(
        primary_region=primary_region,
        region_ips=dict(dns.region_ips),
        health_check_url=dns.health_check_url,
        hostnames=dns.hostnames,
        probe_hosts=dict(dns.probe_hosts),
        selector=dns.selector,
        health_check_interval_seconds=dns.health_check_interval_seconds,
        health_check_timeout_seconds=dns.health_check_timeout_seconds,
        ttl=dns.ttl,
    )
