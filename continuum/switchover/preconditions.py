"""The precondition of each step: a pure function of (plan, observed snapshot).

DryRun reports these checks; Execute evaluates the very same functions over a fresh snapshot
before its first write and refuses when any blocker is found — so the two cannot disagree.
Blocker and warning strings start with ``step-<n>: ``.

Decisions (``docs/switchover.md``): a planned switchover needs the lease held by ``from`` and
unexpired — an unheld or expired lease, a lease already on ``to`` ("redundant") and a
third-party holder are blockers in DryRun and Execute alike; the mechanism decides which
database checks apply (``stateless`` has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from continuum.messages.audit import format_timestamp
from continuum.messages.switchover import (
    CnpgMode,
    Mechanism,
    PairHalf,
    Plan,
    StepName,
    backend_in_region,
    step_number,
)
from continuum.switchover.snapshot import Observed

__all__ = [
    "STEP_AUDIT_EMIT_SECONDS",
    "STEP_CORDON_OLD_SECONDS",
    "STEP_DRAIN_HTTP_SECONDS",
    "STEP_FLIP_DNS_SECONDS",
    "STEP_PROMOTE_NEW_SECONDS",
    "STEP_SWAP_LEASE_SECONDS",
    "STEP_VALIDATE_LEASE_SECONDS",
    "StepCheck",
    "evaluate",
    "in_zone",
]

# Per-step duration estimates (seconds), dryrun-health.md §1.2. Step 3 charges the plan's
# drain_seconds instead (this constant is the default drain), 0 when it is a no-op.
STEP_VALIDATE_LEASE_SECONDS = 1
STEP_CORDON_OLD_SECONDS = 2
STEP_DRAIN_HTTP_SECONDS = 10
STEP_FLIP_DNS_SECONDS = 5
STEP_SWAP_LEASE_SECONDS = 2
STEP_PROMOTE_NEW_SECONDS = 3
STEP_AUDIT_EMIT_SECONDS = 1

LONG_DRAIN_SECONDS = 30


@dataclass
class StepCheck:
    """One step's verdict. ``met`` is false when the step found a problem (or a dependency it
    needs is missing); ``noop`` when the step will do nothing for this plan."""

    step: StepName
    estimate: int
    met: bool = True
    noop: bool = False
    notes: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def block(self, text: str) -> None:
        self.met = False
        self.blockers.append(f"step-{step_number(self.step)}: {text}")

    def warn(self, text: str) -> None:
        self.warnings.append(f"step-{step_number(self.step)}: {text}")


def evaluate(plan: Plan, obs: Observed) -> list[StepCheck]:
    """The seven checks, in step order. Pure."""
    return [
        check_validate_lease(plan, obs),
        check_cordon_old_primary(plan, obs),
        check_drain_http(plan, obs),
        check_flip_dns(plan, obs),
        check_swap_lease(plan, obs),
        check_promote_new_primary(plan, obs),
        check_audit_emit(plan, obs),
    ]


# --- step 1 ----------------------------------------------------------------------------------


def check_validate_lease(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.VALIDATE_LEASE, STEP_VALIDATE_LEASE_SECONDS)
    if not obs.has_witness:
        c.notes.append("Witness client not configured")
        c.block("Witness client is required")
        return c
    if obs.lease is None:
        c.notes.append(f"witness read failed: {obs.lease_error}")
        c.block(f"witness read failed: {obs.lease_error}")
        return c
    lease = obs.lease
    frm, to = plan.from_region, plan.to_region
    live = not lease.is_free_at(obs.now)
    expiry = format_timestamp(lease.expires_at) if lease.expires_at else "never"
    c.notes.append(
        f'lease holder "{lease.holder}" gen={lease.generation} expires={expiry}'
        f" ({'live' if live else 'expired or free'})"
    )
    if lease.holder == to:
        c.block(f'lease already on ToRegion "{to}"; this would be a redundant switchover')
    elif lease.holder not in ("", frm):
        if live or not plan.unplanned:
            c.block(
                f'lease holder "{lease.holder}" != FromRegion "{frm}" '
                "(third-party split-brain risk)"
            )
        else:
            c.warn(f'expired lease of third party "{lease.holder}" will be taken over')
    elif plan.unplanned:
        if live:
            c.block(
                f'lease held by FromRegion "{frm}" is live until {expiry}; '
                "an unplanned failover needs it expired"
            )
        else:
            c.notes.append("lease expired or free: the standby may take it over")
    elif not lease.holder:
        c.block("lease currently unheld; a planned switchover needs it held by FromRegion")
    elif not live:
        c.block(f'lease of FromRegion "{frm}" expired at {expiry}; re-acquire it first')
    else:
        c.notes.append(f'lease held by FromRegion "{frm}" (gen={lease.generation}) — clean handoff')
    if lease.generation != obs.epoch:
        c.block(
            f"lease generation {lease.generation} != plan epoch {obs.epoch} "
            "(stale plan: the lease moved since it was made)"
        )
    return c


# --- steps 2 and 6 ----------------------------------------------------------------------------


def _pair_label(plan: Plan) -> str:
    return f'"{plan.pair.name}" in ns "{plan.pair.namespace}"' if plan.pair else '""'


def _halves(plan: Plan, obs: Observed) -> tuple[PairHalf | None, PairHalf | None]:
    if obs.pair is None:
        return None, None
    return obs.pair.half(plan.from_region), obs.pair.half(plan.to_region)


def check_cordon_old_primary(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.CORDON_OLD_PRIMARY, STEP_CORDON_OLD_SECONDS)
    if plan.mechanism is Mechanism.STATELESS:
        c.estimate, c.noop = 0, True
        c.notes.append("stateless: no database to cordon (no-op)")
        return c
    if not obs.has_pair:
        c.notes.append("CNPG pair not configured")
        c.block("CNPG reader is required")
        return c
    if obs.pair is None:
        c.notes.append(f"pair read failed: {obs.pair_error}")
        c.block(f"cannot resolve cluster-pair {_pair_label(plan)}: {obs.pair_error}")
        return c
    old, new = _halves(plan, obs)
    for region, half in ((plan.from_region, old), (plan.to_region, new)):
        if half is None:
            c.block(f'cluster-pair {_pair_label(plan)} has no Cluster in region "{region}"')
    if old is None or new is None:
        return c
    for region, half in ((plan.to_region, new), (plan.from_region, old)):
        doubt = obs.pair_write_doubts.get(region)
        if doubt is not None and not (region == plan.from_region and plan.unplanned):
            c.warn(f'could not check that Cluster "{half.name}" accepts writes: {doubt}')
        refused = obs.pair_write_errors.get(region)
        if refused is None:
            continue
        if region == plan.from_region and plan.unplanned:
            c.notes.append(f'Cluster "{half.name}" in FromRegion would refuse writes: skipped')
        else:
            c.block(f'Cluster "{half.name}" in region "{region}" would refuse writes: {refused}')
    if not c.met:
        return c
    if not new.reachable:
        c.block(f'cannot read Cluster "{new.name}" in ToRegion "{new.region}": {new.error}')
        return c
    if not old.reachable:
        if plan.unplanned:
            c.notes.append(f'FromRegion Cluster "{old.name}" unreachable: cordon will be skipped')
        else:
            c.block(f'cannot read Cluster "{old.name}" in FromRegion "{old.region}": {old.error}')
            return c
    wrong_mode = [
        h
        for h in (old, new)
        if h.reachable and h.distributed != (plan.cnpg_mode is CnpgMode.DISTRIBUTED)
    ]
    for half in wrong_mode:
        if plan.cnpg_mode is CnpgMode.DISTRIBUTED:
            c.block(
                f'Cluster "{half.name}" does not use the distributed topology '
                "(spec.replica.primary unset); use cnpg mode replica-flip"
            )
        else:
            c.block(
                f'Cluster "{half.name}" uses the distributed topology '
                "(spec.replica.primary set); use cnpg mode distributed"
            )
    if wrong_mode:
        return c
    if new.acts_as_primary:
        if old.reachable and old.acts_as_primary:
            c.block(f'both "{old.name}" and "{new.name}" act as primary (split brain)')
        else:
            c.block(
                f'ToRegion Cluster "{new.name}" already acts as primary; '
                "this would be a redundant switchover"
            )
        return c
    if old.reachable and not old.acts_as_primary:
        if plan.unplanned:
            # No Cluster acts as primary (a failover rolled back that could not promote the
            # lost writer's again, its lease lapsed: seed 314267): nothing writes, and the
            # failover is what makes one write again; the cordon re-asserts idempotently.
            c.notes.append(
                f'FromRegion Cluster "{old.name}" no longer acts as primary: the cordon '
                "re-asserts its demotion"
            )
        else:
            c.block(
                f'FromRegion Cluster "{old.name}" is not the acting primary (live spec.replica)'
            )
            return c
    if old.reachable and (old.fenced or old.demotion_token):
        what = "fenced" if old.fenced else f'demoted (token "{old.demotion_token[:12]}")'
        c.warn(f'primary "{old.name}" is already {what} (likely stuck prior switchover)')
    c.notes.append(f"primary={old.name} replica={new.name}")
    return c


def check_promote_new_primary(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.PROMOTE_NEW_PRIMARY, STEP_PROMOTE_NEW_SECONDS)
    if plan.mechanism is Mechanism.STATELESS:
        c.estimate, c.noop = 0, True
        c.notes.append("stateless: no database to promote (no-op)")
        return c
    old, new = _halves(plan, obs)
    if not obs.has_pair or obs.pair is None or old is None or new is None or not new.reachable:
        # Already reported as a blocker by step 2: a note only, no double count.
        c.met = False
        c.notes.append("cluster pair unavailable (see step 2)")
        return c
    if not new.ready:
        c.block(f'ToRegion Cluster "{new.name}" is not Ready (phase="{new.phase}")')
    if plan.unplanned:
        c.notes.append(f'would promote "{new.name}" without a token (CNPG failover path)')
    elif plan.cnpg_mode is CnpgMode.DISTRIBUTED:
        c.notes.append(
            f'would set spec.replica.primary="{new.name}" with the demotion token of '
            f'"{old.name}" and wait until it is Ready as primary'
        )
    else:
        c.notes.append(
            f'would set replica.enabled=true on "{old.name}", false on "{new.name}", wait '
            f'until "{new.name}" is Ready as primary, then unfence "{old.name}"'
        )
    return c


# --- step 3 ----------------------------------------------------------------------------------


def check_drain_http(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.DRAIN_HTTP, plan.drain_seconds)
    if plan.route is None:
        c.estimate, c.noop = 0, True
        c.notes.append("no HTTPRoute configured: no-op")
        return c
    label = f'"{plan.route.namespace}/{plan.route.name}"'
    if not obs.has_routes:
        c.block(f"HTTPRoute drainer is required for {label}")
        return c
    if obs.weights is None:
        if plan.unplanned:
            c.warn(f"cannot read HTTPRoute {label}: {obs.route_error}; drain will be skipped")
            return c
        c.block(f"cannot read HTTPRoute {label}: {obs.route_error}")
        return c
    if obs.route_write_doubt:
        c.warn(f"could not check that HTTPRoute {label} accepts writes: {obs.route_write_doubt}")
    if obs.route_write_error:
        text = f"HTTPRoute {label} would refuse writes: {obs.route_write_error}"
        if plan.unplanned:
            c.warn(text + "; drain will be skipped")
        else:
            c.block(text)
    olds = sorted(b for b in obs.weights if backend_in_region(b, plan.from_region))
    news = sorted(b for b in obs.weights if backend_in_region(b, plan.to_region))
    if not olds:
        c.block(
            f'no backend of HTTPRoute {label} matches FromRegion "{plan.from_region}"; '
            "refusing to drain every backend"
        )
    if not news:
        c.block(
            f'no backend of HTTPRoute {label} matches ToRegion "{plan.to_region}"; '
            "draining would leave no backend"
        )
    if plan.drain_seconds > LONG_DRAIN_SECONDS:
        c.warn(f"drain window {plan.drain_seconds}s is unusually long")
    if olds and news:
        c.notes.append(
            f"would set weight 0 on {', '.join(olds)} of HTTPRoute {label} "
            f'(region "{plan.from_region}"), wait {plan.drain_seconds}s, '
            f"then make {', '.join(news)} serve"
        )
    return c


# --- step 4 ----------------------------------------------------------------------------------


def in_zone(hostname: str, zone: str) -> bool:
    """Whether ``hostname`` is ``zone`` or a name below it (case-insensitive, trailing dots
    ignored): what an authoritative server accepts in that zone."""
    name, apex = hostname.rstrip(".").lower(), zone.rstrip(".").lower()
    return bool(apex) and (name == apex or name.endswith("." + apex))


def check_flip_dns(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.FLIP_DNS, STEP_FLIP_DNS_SECONDS)
    if not obs.has_dns:
        c.block("DNS record writer is required")
    dns = plan.dns
    if dns is not None:
        for hostname in dns.hostnames:
            if not in_zone(hostname, dns.zone):
                c.block(
                    f'spec.dns.hostnames: "{hostname}" is outside zone "{dns.zone}" '
                    '(the DNS server would refuse it: "Name is out of zone")'
                )
        if obs.zone_served is False:
            c.block(f'spec.dns.zone: zone "{dns.zone}" is not served by the DNS writer')
        elif obs.zone_error:
            # Unanswered, not refused: the writer may be back by the flip (a warning).
            c.warn(f'cannot ask the DNS writer for zone "{dns.zone}": {obs.zone_error}')
    if dns is None or not dns.region_ips.get(plan.to_region):
        c.block(f'no IPs configured for ToRegion "{plan.to_region}"')
    elif obs.to_records is None:
        c.block(f"lua-record synthesis failed: {obs.synth_error}")
    if obs.from_records is None:
        text = f"lua-record synthesis for FromRegion failed: {obs.from_synth_error}"
        if plan.unplanned:
            c.warn(text + " (no DNS compensation possible)")
        else:
            c.block(text + " (no DNS compensation possible)")
    if obs.to_records is not None and not obs.to_records:
        c.warn("no lua-records will be written (no public hostnames)")
    if not obs.has_verifier:
        c.warn("no DNS verifier configured; the flip will not be checked at the server")
    if c.met and obs.to_records is not None and dns is not None:
        c.notes.append(
            f'would commit {len(obs.to_records)} lua-record(s) to PowerDNS zone "{dns.zone}"'
        )
    return c


# --- step 5 ----------------------------------------------------------------------------------


def check_swap_lease(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.SWAP_LEASE, STEP_SWAP_LEASE_SECONDS)
    if not obs.has_witness or obs.lease is None:
        c.met = False
        c.notes.append("witness unavailable (see step 1)")
        return c
    lease = obs.lease
    if obs.witness_write_error:
        c.block(f"the witness would refuse the lease write: {obs.witness_write_error}")
        return c
    if obs.witness_write_doubt:
        c.warn(f"could not check that the witness accepts the write: {obs.witness_write_doubt}")
    if lease.holder not in ("", plan.from_region, plan.to_region) and not lease.is_free_at(obs.now):
        c.block(f'lease held by third-party "{lease.holder}"; taking it for ToRegion would fail')
        return c
    ttl = f"{plan.lease_ttl_seconds:g}s"
    if plan.unplanned:
        c.notes.append(
            f'would Acquire("{plan.to_region}", ttl={ttl}) on the expired lease '
            f'"{plan.lease_key}" (gen {lease.generation} → {lease.generation + 1})'
        )
    else:
        c.notes.append(
            f'would hand over lease "{plan.lease_key}" from "{plan.from_region}" to '
            f'"{plan.to_region}" in one compare-and-set (gen {lease.generation} → '
            f"{lease.generation + 1}, ttl={ttl})"
        )
    return c


# --- step 7 ----------------------------------------------------------------------------------


def check_audit_emit(plan: Plan, obs: Observed) -> StepCheck:
    c = StepCheck(StepName.AUDIT_EMIT, STEP_AUDIT_EMIT_SECONDS)
    if not obs.has_audit:
        c.notes.append("audit sink not configured")
        c.block("Audit publisher is required")
        return c
    c.notes.append("would emit continuum-switchover on subject catalyst.audit")
    return c
