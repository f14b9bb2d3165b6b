"""The ``Continuum`` custom resource (``dr.openova.io/v1``): spec shapes, decoding, validation.

Field names on the wire are exactly the CRD's (camelCase). The CRD's ``openAPIV3Schema`` is
rendered from these Structs (see ``docs/crd.md``), so schema and parser cannot drift.

Validation happens in two layers, both reporting the JSON path of the culprit:

* per-field constraints (types, enums, patterns, ranges) are msgspec ``Meta`` constraints,
  checked while decoding;
* cross-field rules are :func:`validate_spec` (mirrored by CEL ``x-kubernetes-validations``
  in the CRD).

Unknown fields are tolerated when decoding (forward compatibility: a CR written against a
newer CRD still decodes; the API server prunes undeclared fields anyway because the schema
does not preserve unknown fields).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from continuum.errors import InvalidSpec
from continuum.messages.status import ContinuumStatus

API_GROUP: Final = "dr.openova.io"
API_VERSION: Final = "dr.openova.io/v1"
KIND: Final = "Continuum"
PLURAL: Final = "continuums"
FINALIZER: Final = "dr.openova.io/switchover-journal"
"""The finalizer each region's instance keeps on its own region's copy of a Continuum, so a
deletion waits until no switchover is in flight and no journal is open
(``docs/decisions.md`` #20)."""

#: A region name: one DNS label. (The reference demanded >= 4 dash tokens because it derived
#: probe hosts from the 2nd token; probe hosts are explicit now, see ``regions[].probeHost``.)
REGION_PATTERN: Final = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
DURATION_PATTERN: Final = r"^[0-9]+(s|m|h)$"
DNS_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
IPV4_PATTERN: Final = (
    r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$"
)
PORT_PATTERN: Final = (
    r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
)
#: ``ip`` or ``ip:port`` (IPv4; port 1..65535).
VANTAGE_PATTERN: Final = IPV4_PATTERN[:-1] + r"(:" + PORT_PATTERN + r")?$"
URL_PATTERN: Final = r"^https?://.+"
NATS_URL_PATTERN: Final = r"^(nats|tls|ws|wss)://.+"
K8S_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
APP_REF_PATTERN: Final = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

LeaseKind = Literal["in-memory", "k8s-lease", "nats-kv", "cloudflare-kv", "dns-quorum"]
Mechanism = Literal["cnpg-pair", "stateless"]
CnpgMode = Literal["distributed", "replica-flip"]
LuaSelector = Literal["pickfirst", "pickclosest", "random", "hashed", "all"]

Region = Annotated[str, Meta(pattern=REGION_PATTERN, max_length=63)]
Duration = Annotated[str, Meta(pattern=DURATION_PATTERN, max_length=16)]
DnsName = Annotated[str, Meta(pattern=DNS_NAME_PATTERN, max_length=253)]
K8sName = Annotated[str, Meta(pattern=K8S_NAME_PATTERN, min_length=1, max_length=253)]
Url = Annotated[str, Meta(pattern=URL_PATTERN, max_length=2048)]
NatsUrl = Annotated[str, Meta(pattern=NATS_URL_PATTERN, max_length=2048)]
Ipv4 = Annotated[str, Meta(pattern=IPV4_PATTERN, max_length=15)]
Vantage = Annotated[str, Meta(pattern=VANTAGE_PATTERN, max_length=21)]
Text = Annotated[str, Meta(max_length=1024)]


class SecretKeyRef(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """A key in a Secret. Which namespace it is read from is stated where it is used."""

    name: K8sName
    key: Annotated[str, Meta(min_length=1, max_length=253)]


class LeaseClientConfig(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """Witness configuration. Timing applies to every kind; other keys to the kind named.

    ``renewSeconds`` must be below ``ttlSeconds / 2`` so one missed renewal never loses the
    lease.
    """

    ttl_seconds: Annotated[int, Meta(ge=5, le=600, description="Lease TTL in seconds.")] = 30
    renew_seconds: Annotated[int, Meta(ge=1, le=60, description="Renew interval (< ttl/2).")] = 10
    url: (
        Annotated[NatsUrl, Meta(description="nats-kv: NATS URL (default CONTINUUM_NATS_URL).")]
        | None
    ) = None
    bucket: Annotated[DnsName, Meta(description="nats-kv: KV bucket name.")] | None = None
    base_url: Annotated[Url, Meta(description="cloudflare-kv: Worker root URL.")] | None = (
        msgspec.field(default=None, name="baseURL")
    )
    token_secret_ref: SecretKeyRef | None = None
    resolvers: (
        Annotated[
            list[Vantage], Meta(min_length=3, max_length=5, description="dns-quorum servers.")
        ]
        | None
    ) = None
    domain: Annotated[DnsName, Meta(description="dns-quorum: record domain.")] | None = None
    tsig_secret_ref: SecretKeyRef | None = None
    powerdns_apis: (
        Annotated[
            list[Url],
            Meta(
                min_length=3,
                max_length=5,
                description="dns-quorum: PowerDNS API URL of each server, same order.",
            ),
        ]
        | None
    ) = msgspec.field(default=None, name="powerdnsAPIs")
    api_key_secret_ref: SecretKeyRef | None = None
    zone: Annotated[DnsName, Meta(description="dns-quorum: zone holding the records.")] | None = (
        None
    )
    settle_seconds: Annotated[
        float, Meta(ge=0, le=10, description="dns-quorum: wait before confirming a new holder.")
    ] = 1.0
    namespace: Annotated[K8sName, Meta(description="k8s-lease: Lease namespace.")] | None = None
    context: (
        Annotated[Text, Meta(min_length=1, description="k8s-lease: kubeconfig context.")] | None
    ) = None

    def to_witness_config(self) -> dict[str, Any]:
        """The set keys as a plain dict (camelCase), for the witness factory."""
        out = msgspec.to_builtins(self)
        assert isinstance(out, dict)
        return out


class LeaseClient(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Which witness arbitrates the writer lease, and how."""

    kind: Annotated[LeaseKind, Meta(description="Witness backend.")]
    config: LeaseClientConfig = msgspec.field(default_factory=LeaseClientConfig)


class ObjectRefSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """A namespaced object; ``namespace`` defaults to the CR's namespace."""

    name: K8sName
    namespace: K8sName | None = None


class RegionSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One region's public entry points."""

    name: Region
    lb_ips: Annotated[list[Ipv4], Meta(min_length=1, max_length=16)] = msgspec.field(name="lbIPs")
    probe_host: (
        Annotated[DnsName, Meta(description="Health-probe host of this region (ifurlup).")] | None
    ) = None


class HealthCheckSpec(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """The URL PowerDNS probes (``ifurlup``); its host is replaced by the region's probeHost."""

    url: Url
    interval_seconds: Annotated[int, Meta(ge=1, le=60)] = 5
    timeout_seconds: Annotated[int, Meta(ge=1, le=30)] = 2


class LuaRecordSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The LUA records published for the application (always ``ifurlup``).

    ``selector`` goes into the ``ifurlup`` options table (which healthy address to answer).
    """

    selector: LuaSelector = "pickfirst"
    hostnames: Annotated[list[DnsName], Meta(min_length=1, max_length=32)]
    ttl: Annotated[int, Meta(ge=1, le=86400)] = 30
    health_check: HealthCheckSpec


class SwitchoverSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """How a switchover runs, and the operator's request for one.

    ``requested: true`` asks for a switchover to ``targetRegion`` (default: the failover
    target); the controller records the outcome in status and resets ``requested``.
    ``drainSeconds: 0`` means no drain wait.
    """

    requested: bool = False
    requested_by: Text = ""
    target_region: Region | None = None
    reason: Text = ""
    mechanism: Mechanism = "cnpg-pair"
    drain_seconds: Annotated[int, Meta(ge=0, le=600)] = 10
    cnpg_mode: CnpgMode = "distributed"


class FailbackSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Approval gate for moving the writer back to ``primaryRegion``.

    ``requireApproval: false`` is the ungated mode: a failback runs without ``approved``
    (``continuum-failback-pending`` is still published first). ``approvalTimeoutSeconds``:
    a failback requested through ``spec.switchover.requested`` that waits for approval
    longer than this is given up (the request is cleared, ``continuum-error`` reason
    ``failback-approval-timeout``, condition ``FailbackApproval`` False
    ``ApprovalTimedOut``); 0 waits forever.
    """

    approved: bool = False
    approved_by: Text = ""
    require_approval: bool = True
    approval_timeout_seconds: Annotated[int, Meta(ge=0, le=604800)] = 0


class LatencyProbe(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Per-region URL whose latency decides ``latency-normal``."""

    urls: Annotated[dict[str, Url], Meta(min_length=1, max_length=5)]
    threshold_ms: Annotated[int, Meta(ge=1, le=60000)] = 500


class HealthSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Post-switchover health probing."""

    vantages: (
        Annotated[list[Vantage], Meta(min_length=1, max_length=16, description="DNS vantages.")]
        | None
    ) = None
    latency_probe: LatencyProbe | None = None


class ReplicationProbe(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True
):
    """Optional SQL probe of replication (``pg_stat_replication``) per region.

    Each Secret (in the CR's namespace) holds a libpq DSN; DSNs never appear in the spec.
    """

    dsn_secret_refs: Annotated[dict[str, SecretKeyRef], Meta(min_length=1, max_length=5)]
    timeout_seconds: Annotated[int, Meta(ge=1, le=60)] = 5


class ContinuumSpec(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Desired DR behaviour for one active-hotstandby application."""

    application_ref: Annotated[str, Meta(pattern=APP_REF_PATTERN, min_length=1, max_length=253)]
    primary_region: Region
    hot_standby_regions: Annotated[list[Region], Meta(min_length=1, max_length=4)]
    lease_client: LeaseClient
    rto: Duration | None = None
    rpo: Duration | None = None
    auto_failover: bool = False
    auto_failover_observations: Annotated[int, Meta(ge=1, le=100)] = 3
    max_lag_seconds: Annotated[int, Meta(ge=1, le=86400)] | None = None
    standby_grace_seconds: Annotated[int, Meta(ge=0, le=3600)] = 30
    cnpg_pair: ObjectRefSpec | None = None
    http_route: ObjectRefSpec | None = None
    pdm_zone: DnsName | None = None
    regions: Annotated[list[RegionSpec], Meta(max_length=5)] = msgspec.field(default_factory=list)
    lua_record: LuaRecordSpec | None = None
    switchover: SwitchoverSpec = msgspec.field(default_factory=SwitchoverSpec)
    failback: FailbackSpec = msgspec.field(default_factory=FailbackSpec)
    health: HealthSpec | None = None
    replication_probe: ReplicationProbe | None = None

    @property
    def rto_seconds(self) -> int | None:
        """``rto`` in seconds, or None when unset."""
        return None if self.rto is None else duration_seconds(self.rto)

    @property
    def rpo_seconds(self) -> int | None:
        """``rpo`` in seconds, or None when unset."""
        return None if self.rpo is None else duration_seconds(self.rpo)

    def failover_target(self, acting_primary: str | None = None) -> str | None:
        """The first region, in preference order, that is not the acting primary.

        Preference order is ``primaryRegion`` then ``hotStandbyRegions`` as listed; with the
        default ``acting_primary`` (``primaryRegion``) that is the first hot standby, and
        after a switchover it is the home region (failback). None when there is none.
        """
        acting = self.primary_region if acting_primary is None else acting_primary
        for region in (self.primary_region, *self.hot_standby_regions):
            if region != acting:
                return region
        return None

    def region_ips(self) -> dict[str, list[str]]:
        """Region name → public LB IPs, from ``regions[]``."""
        return {r.name: list(r.lb_ips) for r in self.regions}

    def all_regions(self) -> tuple[str, ...]:
        """``primaryRegion`` followed by the hot standbys."""
        return (self.primary_region, *self.hot_standby_regions)


class ObjectMeta(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The subset of ``metadata`` the controller uses (other keys are ignored)."""

    name: str
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    """Set by the API server once the object is being deleted; it stays until the last
    finalizer is removed."""
    finalizers: tuple[str, ...] = ()


class Continuum(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A whole Continuum object as read from the API server."""

    api_version: Literal["dr.openova.io/v1"] = "dr.openova.io/v1"
    kind: Literal["Continuum"] = "Continuum"
    metadata: ObjectMeta
    spec: ContinuumSpec
    status: ContinuumStatus = msgspec.field(default_factory=ContinuumStatus)

    @property
    def key(self) -> str:
        """``<namespace>/<name>``: the registry key and the witness slot."""
        return lease_key(self.metadata.namespace, self.metadata.name)

    @property
    def deleting(self) -> bool:
        """The object is being deleted (``metadata.deletionTimestamp`` is set)."""
        return self.metadata.deletion_timestamp is not None

    @property
    def finalized_by_us(self) -> bool:
        """The object carries :data:`FINALIZER`."""
        return FINALIZER in self.metadata.finalizers


class CopyState(msgspec.Struct, frozen=True, kw_only=True):
    """What one region's copy of a Continuum says about who manages it there (read from that
    region's API server)."""

    exists: bool
    deleting: bool = False
    """``metadata.deletionTimestamp`` is set: that region's instance is letting go."""
    journal_to: str = ""
    """``status.switchover.to`` while a journal is open there ("" when none)."""


def lease_key(namespace: str, name: str) -> str:
    """The witness slot of a CR: ``<namespace>/<name>``."""
    return f"{namespace}/{name}"


_DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600}


def duration_seconds(text: str) -> int:
    """Seconds in a ``<digits><s|m|h>`` duration. Raises ValueError on any other form."""
    if re.fullmatch(DURATION_PATTERN, text) is None:
        raise ValueError(f"{text!r} is not <digits><s|m|h>")
    return int(text[:-1]) * _DURATION_UNITS[text[-1]]


# --- decoding ----------------------------------------------------------------------------

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_UNSUPPORTED_MECHANISMS: Final = {
    "raft-transition": "raft-transition is not supported by this controller; "
    "use cnpg-pair or stateless",
}


_SEGMENT = re.compile(r"\.?([^.\[]+)|\[(\d+)\]")


def _node(obj: Any, path: str) -> Any:
    """The value at ``a.b[0].c`` in ``obj``, or None when the path does not exist."""
    node = obj
    for name, index in _SEGMENT.findall(path):
        if index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        elif name and isinstance(node, dict) and name in node:
            node = node[name]
        else:
            return None
    return node


def _error_path(err: msgspec.ValidationError) -> str:
    match = _AT.match(str(err))
    return (match.group("path") or "").lstrip(".") if match else ""


def _name_map_keys(path: str, obj: Any, kind: type[Any]) -> str:
    """msgspec reports a map entry as ``urls[...]``: find the key whose value alone gives the
    same error (maps here hold at most five entries) and name it (``urls.region-a``)."""
    if "[...]" not in path:
        return path
    prefix, rest = path.split("[...]", 1)
    mapping = _node(obj, prefix)
    if not isinstance(mapping, dict):
        return path
    for key in mapping:
        trial = copy.deepcopy(obj)
        parent = _node(trial, prefix)
        assert isinstance(parent, dict)
        parent.clear()
        parent[key] = mapping[key]
        try:
            msgspec.convert(trial, kind)
        except msgspec.ValidationError as err:
            if _error_path(err) == path:
                return f"{prefix}.{key}{rest}"
    return path


def _invalid_from(
    err: msgspec.ValidationError, obj: Any, kind: type[Any] | None = None
) -> InvalidSpec:
    """Turn msgspec's ``<message> - at `$.a.b[0]``` into ``InvalidSpec("a.b[0]", message)``;
    a map entry is named by its key when ``kind`` (the type ``obj`` was converted to) is
    given."""
    match = _AT.match(str(err))
    assert match is not None
    message = match.group("msg")
    path = (match.group("path") or "").lstrip(".")
    if kind is not None:
        path = _name_map_keys(path, obj, kind)
    missing = _MISSING.match(message)
    if missing is not None:
        path = f"{path}.{missing.group('field')}" if path else missing.group("field")
        message = "required field is missing"
    if path == "spec.switchover.mechanism" and isinstance(obj, dict):
        value = obj.get("spec", {}).get("switchover", {}).get("mechanism")
        if isinstance(value, str) and value in _UNSUPPORTED_MECHANISMS:
            message = _UNSUPPORTED_MECHANISMS[value]
    return InvalidSpec(path, message)


def decode_continuum(obj: dict[str, Any] | bytes) -> Continuum:
    """Decode and validate a whole Continuum object (JSON bytes or a parsed dict).

    Guarantees a returned object satisfies every per-field constraint and every rule of
    :func:`validate_spec`. Raises :class:`~continuum.errors.InvalidSpec` whose ``field`` is
    the JSON path of the first offending field (``spec.leaseClient.config.ttlSeconds``).
    Unknown fields are ignored.
    """
    try:
        if isinstance(obj, bytes | bytearray | memoryview):
            raw = msgspec.json.decode(obj)
            cr = msgspec.convert(raw, Continuum)
        else:
            raw = obj
            cr = msgspec.convert(obj, Continuum)
    except msgspec.ValidationError as err:
        raise _invalid_from(err, raw, Continuum) from None
    except msgspec.DecodeError as err:
        raise InvalidSpec("", f"not valid JSON: {err}") from None
    validate_spec(cr.spec)
    return cr


def decode_spec(obj: dict[str, Any]) -> ContinuumSpec:
    """Decode and validate a bare ``spec`` mapping; paths in errors start with ``spec.``."""
    try:
        spec = msgspec.convert(obj, ContinuumSpec)
    except msgspec.ValidationError as err:
        inner = _invalid_from(err, {"spec": obj})
        raise InvalidSpec(f"spec.{inner.field}" if inner.field else "spec", str(err)) from None
    validate_spec(spec)
    return spec


# --- cross-field rules (mirrored as CEL rules in the CRD) --------------------------------


def validate_spec(spec: ContinuumSpec) -> None:
    """Check the rules no single field can express. Raises InvalidSpec naming the field.

    Rules, in the order checked:

    1. ``leaseClient.config.renewSeconds * 2 < ttlSeconds``;
    2. ``cloudflare-kv`` needs ``config.baseURL`` and ``config.tokenSecretRef``;
       ``dns-quorum`` needs ``config.resolvers``;
    3. ``hotStandbyRegions`` has no duplicates and does not contain ``primaryRegion``;
    4. ``regions[].name`` are unique;
    5. with ``luaRecord`` set, ``regions[]`` lists the primary and every hot standby;
    6. ``switchover.targetRegion`` is ``primaryRegion`` or a hot standby;
    7. keys of ``health.latencyProbe.urls`` and ``replicationProbe.dsnSecretRefs`` are
       ``primaryRegion`` or hot standbys;
    8. ``switchover.mechanism: cnpg-pair`` (the default) needs ``cnpgPair``;
    9. ``luaRecord`` needs ``pdmZone``, and every ``luaRecord.hostnames`` entry is unique
       and inside it (a DNS server refuses a name outside the zone).
    """
    cfg = spec.lease_client.config
    if cfg.renew_seconds * 2 >= cfg.ttl_seconds:
        raise InvalidSpec(
            "spec.leaseClient.config.renewSeconds",
            f"must be less than ttlSeconds/2 (renewSeconds={cfg.renew_seconds}, "
            f"ttlSeconds={cfg.ttl_seconds})",
        )
    kind = spec.lease_client.kind
    if kind == "cloudflare-kv" and cfg.base_url is None:
        raise InvalidSpec("spec.leaseClient.config.baseURL", "required for kind cloudflare-kv")
    if kind == "cloudflare-kv" and cfg.token_secret_ref is None:
        raise InvalidSpec(
            "spec.leaseClient.config.tokenSecretRef", "required for kind cloudflare-kv"
        )
    if kind == "dns-quorum" and cfg.resolvers is None:
        raise InvalidSpec("spec.leaseClient.config.resolvers", "required for kind dns-quorum")
    if kind == "dns-quorum" and (
        cfg.powerdns_apis is None or len(cfg.powerdns_apis) != len(cfg.resolvers or [])
    ):
        raise InvalidSpec(
            "spec.leaseClient.config.powerdnsAPIs",
            "dns-quorum needs one PowerDNS API URL per resolver, in the same order",
        )
    seen: set[str] = set()
    for index, region in enumerate(spec.hot_standby_regions):
        if region == spec.primary_region:
            raise InvalidSpec(
                "spec.hotStandbyRegions",
                f"{region!r} is the primaryRegion; a region cannot be its own standby",
            )
        if region in seen:
            raise InvalidSpec(f"spec.hotStandbyRegions[{index}]", f"duplicate region {region!r}")
        seen.add(region)
    names: set[str] = set()
    for index, entry in enumerate(spec.regions):
        if entry.name in names:
            raise InvalidSpec(f"spec.regions[{index}].name", f"duplicate region {entry.name!r}")
        names.add(entry.name)
    if spec.lua_record is not None:
        missing = [r for r in spec.all_regions() if r not in names]
        if missing:
            raise InvalidSpec(
                "spec.regions",
                "must list the primaryRegion and every hot standby when luaRecord is set; "
                f"missing: {', '.join(missing)}",
            )
    known = set(spec.all_regions())
    target = spec.switchover.target_region
    if target is not None and target not in known:
        raise InvalidSpec(
            "spec.switchover.targetRegion",
            f"{target!r} is neither the primaryRegion nor a hot standby",
        )
    if spec.health is not None and spec.health.latency_probe is not None:
        _check_region_keys(spec.health.latency_probe.urls, known, "spec.health.latencyProbe.urls")
    if spec.replication_probe is not None:
        _check_region_keys(
            spec.replication_probe.dsn_secret_refs, known, "spec.replicationProbe.dsnSecretRefs"
        )
    if spec.switchover.mechanism == "cnpg-pair" and spec.cnpg_pair is None:
        raise InvalidSpec(
            "spec.cnpgPair",
            "required for switchover.mechanism cnpg-pair (the default); "
            "set cnpgPair or use mechanism stateless",
        )
    if spec.lua_record is not None:
        _check_hostnames(spec.lua_record.hostnames, spec.pdm_zone)


def _check_hostnames(hostnames: list[str], zone: str | None) -> None:
    if zone is None:
        raise InvalidSpec("spec.pdmZone", "required when luaRecord is set (the records' zone)")
    seen: set[str] = set()
    for host in hostnames:
        if host in seen:
            raise InvalidSpec("spec.luaRecord.hostnames", f"duplicate hostname {host!r}")
        seen.add(host)
        if host != zone and not host.endswith("." + zone):
            raise InvalidSpec(
                "spec.luaRecord.hostnames",
                f"{host!r} is outside pdmZone {zone!r} (a DNS server refuses it)",
            )


def _check_region_keys(mapping: dict[str, Any], known: set[str], path: str) -> None:
    for key in mapping:
        if key not in known:
            raise InvalidSpec(path, f"{key!r} is neither the primaryRegion nor a hot standby")


class RawList(msgspec.Struct, frozen=True, kw_only=True):
    """A list answer: the objects and the list's ``resourceVersion`` (to watch from)."""

    items: list[dict[str, Any]]
    resource_version: str
