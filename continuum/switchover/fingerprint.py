"""The plan fingerprint: first 16 hex of SHA-256 over a canonical JSON document.

Canonical encoding (``docs/switchover.md``): a JSON object with keys sorted at every level,
no whitespace, UTF-8, floats as msgspec writes them (``30.0``). It covers every field that
changes what Execute would write — from, to, mechanism, cnpg mode, pair, route, drain
seconds, lease TTL, unplanned, the reason (it is in the audit record), the DNS
plan (zone, hostnames, region → IPs, probe hosts, selector, health-check URL/interval/
timeout, TTL) and the synthesized records for the target (hostname, body, ttl, type,
primary) — and nothing that changes on every renewal: not the epoch (a renewal bumps the
generation; Execute's fence catches a stale plan instead), not the lease expiry, not the
step timeouts (they bound how long Execute waits, not what it writes), not the initiator:
who confirms is not part of the plan they reviewed (a DryRun has no initiator; Execute runs
as ``api`` or the operator's identity), so the executed plan's fingerprint equals the one
that was previewed and confirmed (version 2; version 1 hashed ``initiatedBy``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from continuum.messages.dns import LuaRecord
from continuum.messages.switchover import Plan

__all__ = ["FINGERPRINT_VERSION", "canonical_document", "canonical_json", "fingerprint"]

FINGERPRINT_VERSION = 2


def canonical_document(plan: Plan, records: Sequence[LuaRecord] | None) -> dict[str, Any]:
    """The document that is hashed (``records``: the target's synthesized records, or
    ``None`` when synthesis failed)."""

    def ref(obj: Any) -> dict[str, str] | None:
        return None if obj is None else {"name": obj.name, "namespace": obj.namespace}

    dns = plan.dns
    return {
        "v": FINGERPRINT_VERSION,
        "continuum": plan.continuum_name,
        "from": plan.from_region,
        "to": plan.to_region,
        "mechanism": plan.mechanism.value,
        "cnpgMode": plan.cnpg_mode.value,
        "pair": ref(plan.pair),
        "route": ref(plan.route),
        "drainSeconds": plan.drain_seconds,
        "leaseTtlSeconds": float(plan.lease_ttl_seconds),
        "unplanned": plan.unplanned,
        "reason": plan.reason,
        "dns": None
        if dns is None
        else {
            "zone": dns.zone,
            "hostnames": list(dns.hostnames),
            "regionIps": {region: list(ips) for region, ips in dns.region_ips.items()},
            "probeHosts": dict(dns.probe_hosts),
            "selector": dns.selector,
            "healthCheckUrl": dns.health_check_url,
            "healthCheckIntervalSeconds": dns.health_check_interval_seconds,
            "healthCheckTimeoutSeconds": dns.health_check_timeout_seconds,
            "ttl": dns.ttl,
        },
        "records": None
        if records is None
        else [
            {
                "hostname": r.hostname,
                "body": r.body,
                "ttl": r.ttl,
                "type": r.type,
                "primaryRegion": r.primary_region,
            }
            for r in sorted(records, key=lambda r: (r.hostname, r.type))
        ],
    }


def canonical_json(plan: Plan, records: Sequence[LuaRecord] | None) -> bytes:
    """Sorted keys, no whitespace, UTF-8."""
    return msgspec.json.encode(canonical_document(plan, records), order="sorted")


def fingerprint(plan: Plan, records: Sequence[LuaRecord] | None) -> str:
    """First 16 lowercase hex characters of SHA-256 over :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(plan, records)).hexdigest()[:16]
