"""Whether this controller can ever serve a Continuum: the checks that need the controller's
own configuration (not only the CR), run at a CR's first observation by the watch.

A CR that passes ``validate_spec`` can still be impossible for *this* deployment: a region
without a kubeconfig context (its half of the CNPG pair can never be read, its instance never
reached), a witness kind the process cannot open (``in-memory`` in production, ``nats-kv``
without a URL, ``k8s-lease`` without a kubeconfig), LUA records with no DNS writer configured.
Such a CR is reported ``Failed`` with ``SpecValid=False`` naming the field, never spawned,
instead of retrying forever under a phase that does not say why.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from continuum.errors import InvalidSpec
from continuum.messages.crd import Continuum
from continuum.witness.selection import WitnessOptions, check_witness_config

__all__ = ["ServingFacts", "check_serving"]


@dataclass(frozen=True, kw_only=True)
class ServingFacts:
    """What the controller process was configured with."""

    witness: WitnessOptions
    """The witness factory's options (the same values that open witnesses)."""
    context_regions: Collection[str] | None = None
    """Regions this process has an API client for (its kubeconfig contexts); ``None`` when
    it runs on the in-cluster config and cannot tell."""
    witness_context: str = ""
    """``CONTINUUM_WITNESS_CONTEXT``: the default ``k8s-lease`` context."""
    dns_writer: bool = True
    """Whether a DNS writer (PDM or the PowerDNS API) is configured."""


def check_serving(cr: Continuum, facts: ServingFacts) -> None:
    """Raise :class:`~continuum.errors.InvalidSpec` naming the field when this controller can
    never serve ``cr``; return otherwise. Pure: no I/O."""
    spec = cr.spec
    if facts.context_regions is not None:
        known = set(facts.context_regions)
        fields = [("spec.primaryRegion", spec.primary_region)] + [
            (f"spec.hotStandbyRegions[{i}]", r) for i, r in enumerate(spec.hot_standby_regions)
        ]
        for field, region in fields:
            if region not in known:
                raise InvalidSpec(
                    field,
                    f"region {region!r} has no kubeconfig context in this controller "
                    f"(CONTINUUM_REGION_CONTEXTS knows: {', '.join(sorted(known)) or 'none'})",
                )
    config = spec.lease_client.config.to_witness_config()
    if spec.lease_client.kind == "k8s-lease" and facts.witness_context:
        config.setdefault("context", facts.witness_context)
    check_witness_config(spec.lease_client.kind, config, facts.witness)
    if spec.lua_record is not None and not facts.dns_writer:
        raise InvalidSpec(
            "spec.luaRecord",
            "this controller has no DNS writer configured (CONTINUUM_DNS_WRITER with "
            "CONTINUUM_PDM_URL or CONTINUUM_POWERDNS_API_URL); the records can never be written",
        )
