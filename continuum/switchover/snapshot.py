"""The collaborators of a switchover and the read-only snapshot the preconditions judge.

:func:`observe` is the only place DryRun and Execute read state before deciding; it never
writes. Every read is bounded on the injected clock, and a failed read becomes an error
string in the snapshot (the preconditions turn it into a blocker), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from continuum.errors import Invalid, KubeError, NotFound, WitnessNamespaceMissing
from continuum.messages.dns import LuaRecord
from continuum.messages.lease import Lease
from continuum.messages.switchover import Mechanism, PairState, Plan
from continuum.ports import (
    AuditSink,
    Clock,
    ClusterPair,
    DnsRecords,
    DnsZones,
    PairWriteProbe,
    RouteWriteProbe,
    TrafficRoutes,
    VerifyDns,
    Witness,
    WitnessWriteProbe,
)
from continuum.switchover.lua import LuaSynthesisParams
from continuum.switchover.lua import synthesize as lua_synthesize
from continuum.switchover.plan import lua_params
from continuum.switchover.timeouts import with_timeout

__all__ = ["Observed", "SwitchoverPorts", "Synthesize", "observe", "records_for"]

Synthesize = Callable[[LuaSynthesisParams], list[LuaRecord]]
"""Pure LUA synthesis (``continuum.switchover.lua.synthesize`` unless a test injects one)."""

READ_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class SwitchoverPorts:
    """Everything a switchover talks to. ``None`` means "not configured": the preconditions
    report it (as a blocker where the step needs it) instead of failing mid-run."""

    clock: Clock
    witness: Witness | None = None
    pair: ClusterPair | None = None
    routes: TrafficRoutes | None = None
    dns: DnsRecords | None = None
    audit: AuditSink | None = None
    verify_dns: VerifyDns | None = None
    synthesize: Synthesize = lua_synthesize


class Observed(msgspec.Struct, frozen=True, kw_only=True):
    """One consistent-enough snapshot: what each configured collaborator answered.

    ``epoch`` is the fencing epoch the caller acts under (the plan's, advanced by its own
    renewals). ``has_*`` say whether a collaborator is configured at all.
    ``witness_write_error`` is the witness's answer to a dry-run write (empty when it would
    be accepted or the witness cannot probe). ``zone_served`` is ``None`` when the DNS writer
    cannot tell (PDM) or the read failed (``zone_error``). ``pair_write_errors`` (region →
    why) and ``route_write_error`` are the API servers' refusals of dry-run writes, when the
    collaborator can ask for one; the ``*_doubt`` fields are probes that could not be
    answered (5xx, timeout): they may pass by the time Execute writes.
    """

    now: datetime
    epoch: int
    has_witness: bool = True
    lease: Lease | None = None
    lease_error: str = ""
    witness_write_error: str = ""
    witness_write_doubt: str = ""
    has_pair: bool = True
    pair: PairState | None = None
    pair_error: str = ""
    pair_write_errors: dict[str, str] = msgspec.field(default_factory=dict)
    pair_write_doubts: dict[str, str] = msgspec.field(default_factory=dict)
    has_routes: bool = True
    weights: dict[str, int] | None = None
    route_error: str = ""
    route_write_error: str = ""
    route_write_doubt: str = ""
    has_dns: bool = True
    zone_served: bool | None = None
    zone_error: str = ""
    to_records: list[LuaRecord] | None = None
    synth_error: str = ""
    from_records: list[LuaRecord] | None = None
    from_synth_error: str = ""
    has_verifier: bool = True
    has_audit: bool = True


def records_for(plan: Plan, ports: SwitchoverPorts, region: str) -> list[LuaRecord]:
    """The LUA records making ``region`` the primary. Raises what the synthesis raises."""
    if plan.dns is None:
        raise ValueError("plan has no DNS section")
    return ports.synthesize(lua_params(plan.dns, region))


def refuses_for_sure(exc: BaseException) -> bool:
    """Whether a probe's failure is an answer ("no": RBAC, no such object, invalid, a missing
    witness namespace) rather than a failure to ask (5xx, timeout, connection): only an
    answer is a blocker; a failure to ask may pass by the time Execute writes (a warning)."""
    if isinstance(exc, WitnessNamespaceMissing | NotFound | Invalid):
        return True
    status = getattr(exc, "status", None)
    return (
        isinstance(exc, KubeError)
        and isinstance(status, int)
        and 400 <= status < 500
        and status != 409
    )


def plan_regions(plan: Plan) -> tuple[str, str]:
    """The two regions a plan writes to."""
    return (plan.from_region, plan.to_region)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def observe(plan: Plan, ports: SwitchoverPorts, *, epoch: int) -> Observed:
    """Read the witness slot (and ask it to validate a write when it can), the pair
    (cnpg-pair only), the route weights (when a route is planned), whether the DNS writer
    serves the zone (when it can tell), and synthesize both record sets, each read bounded by
    5 s of ``ports.clock``. Never writes; never raises for a failed read."""
    clock = ports.clock
    lease: Lease | None = None
    lease_error = witness_write_error = witness_write_doubt = ""
    if ports.witness is not None:
        witness = ports.witness
        try:
            lease = await with_timeout(
                clock, READ_TIMEOUT_SECONDS, lambda: witness.read(plan.lease_key)
            )
        except Exception as exc:
            lease_error = _describe(exc)
        if lease is not None and isinstance(witness, WitnessWriteProbe):
            probe = witness
            try:
                await with_timeout(
                    clock, READ_TIMEOUT_SECONDS, lambda: probe.probe_write(plan.lease_key)
                )
            except Exception as exc:
                if refuses_for_sure(exc):
                    witness_write_error = _describe(exc)
                else:
                    witness_write_doubt = _describe(exc)

    zone_served: bool | None = None
    zone_error = ""
    if plan.dns is not None and isinstance(ports.dns, DnsZones):
        zones, zone = ports.dns, plan.dns.zone
        try:
            zone_served = await with_timeout(
                clock, READ_TIMEOUT_SECONDS, lambda: zones.zone_exists(zone)
            )
        except Exception as exc:
            zone_error = _describe(exc)

    pair: PairState | None = None
    pair_error = ""
    pair_write_errors: dict[str, str] = {}
    pair_write_doubts: dict[str, str] = {}
    if plan.mechanism is Mechanism.CNPG_PAIR and ports.pair is not None:
        cluster_pair = ports.pair
        try:
            pair = await with_timeout(clock, READ_TIMEOUT_SECONDS, cluster_pair.read_pair)
        except Exception as exc:
            pair_error = _describe(exc)
        if pair is not None and isinstance(cluster_pair, PairWriteProbe):
            pair_probe = cluster_pair
            refusals: dict[str, Exception]
            try:
                refusals = await with_timeout(clock, READ_TIMEOUT_SECONDS, pair_probe.probe_writes)
            except Exception as exc:
                refusals = dict.fromkeys(plan_regions(plan), exc)
            for region, failure in refusals.items():
                bucket = pair_write_errors if refuses_for_sure(failure) else pair_write_doubts
                bucket[region] = _describe(failure)

    weights: dict[str, int] | None = None
    route_error = route_write_error = route_write_doubt = ""
    if plan.route is not None and ports.routes is not None:
        routes, route = ports.routes, plan.route
        try:
            weights = await with_timeout(
                clock, READ_TIMEOUT_SECONDS, lambda: routes.read_weights(route)
            )
        except Exception as exc:
            route_error = _describe(exc)
        if weights is not None and isinstance(routes, RouteWriteProbe):
            route_probe = routes
            try:
                await with_timeout(
                    clock, READ_TIMEOUT_SECONDS, lambda: route_probe.probe_write(route)
                )
            except Exception as exc:
                if refuses_for_sure(exc):
                    route_write_error = _describe(exc)
                else:
                    route_write_doubt = _describe(exc)

    to_records: list[LuaRecord] | None = None
    from_records: list[LuaRecord] | None = None
    synth_error = from_synth_error = ""
    try:
        to_records = records_for(plan, ports, plan.to_region)
    except Exception as exc:
        synth_error = _describe(exc)
    try:
        from_records = records_for(plan, ports, plan.from_region)
    except Exception as exc:
        from_synth_error = _describe(exc)

    return Observed(
        now=clock.now(),
        epoch=epoch,
        has_witness=ports.witness is not None,
        lease=lease,
        lease_error=lease_error,
        witness_write_error=witness_write_error,
        witness_write_doubt=witness_write_doubt,
        has_pair=ports.pair is not None,
        pair=pair,
        pair_error=pair_error,
        pair_write_errors=pair_write_errors,
        pair_write_doubts=pair_write_doubts,
        has_routes=ports.routes is not None,
        weights=weights,
        route_error=route_error,
        route_write_error=route_write_error,
        route_write_doubt=route_write_doubt,
        has_dns=ports.dns is not None,
        zone_served=zone_served,
        zone_error=zone_error,
        to_records=to_records,
        synth_error=synth_error,
        from_records=from_records,
        from_synth_error=from_synth_error,
        has_verifier=ports.verify_dns is not None,
        has_audit=ports.audit is not None,
    )
