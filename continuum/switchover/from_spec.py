"""Resolve a :class:`~continuum.messages.switchover.Plan` from a Continuum CR. Pure.

Every field that changes what Execute does comes from the spec; nothing is read from the
cluster here (that is :func:`continuum.switchover.snapshot.observe`).
"""

from __future__ import annotations

from continuum.messages.crd import Continuum
from continuum.messages.switchover import (
    CnpgMode,
    DnsPlan,
    Mechanism,
    ObjectRef,
    Plan,
    StepTimeouts,
)

__all__ = ["plan_from_spec"]


def _dns_plan(cr: Continuum) -> DnsPlan | None:
    spec = cr.spec
    lua = spec.lua_record
    if lua is None:
        return None
    return DnsPlan(
        zone=spec.pdm_zone or "",
        hostnames=tuple(lua.hostnames),
        region_ips={r.name: tuple(r.lb_ips) for r in spec.regions},
        probe_hosts={r.name: r.probe_host for r in spec.regions if r.probe_host},
        health_check_url=lua.health_check.url,
        selector=lua.selector,
        health_check_interval_seconds=lua.health_check.interval_seconds,
        health_check_timeout_seconds=lua.health_check.timeout_seconds,
        ttl=lua.ttl,
    )


def plan_from_spec(
    cr: Continuum,
    *,
    from_region: str,
    to_region: str,
    reason: str,
    initiated_by: str,
    epoch: int,
    unplanned: bool = False,
    timeouts: StepTimeouts | None = None,
) -> Plan:
    """The plan moving the writer role of ``cr`` from ``from_region`` to ``to_region``.

    The pair and route namespaces default to the CR's namespace. ``epoch`` is the lease
    generation the caller holds now (the fencing token). Does not validate: ``prepare``
    (called by DryRun and Execute) does.
    """
    spec = cr.spec
    namespace = cr.metadata.namespace
    pair = (
        ObjectRef(name=spec.cnpg_pair.name, namespace=spec.cnpg_pair.namespace or namespace)
        if spec.cnpg_pair is not None
        else None
    )
    route = (
        ObjectRef(name=spec.http_route.name, namespace=spec.http_route.namespace or namespace)
        if spec.http_route is not None
        else None
    )
    return Plan(
        continuum_name=cr.key,
        from_region=from_region,
        to_region=to_region,
        application_name=spec.application_ref,
        mechanism=Mechanism(spec.switchover.mechanism),
        cnpg_mode=CnpgMode(spec.switchover.cnpg_mode),
        pair=pair,
        route=route,
        drain_seconds=spec.switchover.drain_seconds,
        dns=_dns_plan(cr),
        reason=reason or "operator-requested",
        initiated_by=initiated_by,
        lease_ttl_seconds=float(spec.lease_client.config.ttl_seconds),
        epoch=epoch,
        timeouts=timeouts if timeouts is not None else StepTimeouts(),
        unplanned=unplanned,
    )
