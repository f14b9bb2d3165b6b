"""Process settings, read once from the environment and validated at start-up.

Every variable is ``CONTINUUM_<NAME>``; the reference implementation's names (``NATS_URL``,
``CATALYST_REGION``, ``LOG_LEVEL``, ...) are accepted as aliases, the ``CONTINUUM_`` name
winning when both are set. Rules:

* an unset variable takes the default; an **empty** one counts as unset, except for the
  listener addresses (``*_ADDR``), where empty **disables** the listener;
* booleans are ``true/false``, ``1/0``, ``yes/no``, ``on/off`` (any case);
* any other malformed value raises :class:`ConfigError` naming the variable — never a
  silent fallback to the default.

Per-CR settings (lease TTL, renew interval, witness kind, regions, zones) come from the
Continuum CR, never from here. ``docs/configuration.md`` is generated from the field
metadata (:func:`settings_table`).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

from continuum.errors import ContinuumError

PREFIX: Final = "CONTINUUM_"
_IPV4 = (
    r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
)
_VANTAGE = re.compile(rf"^{_IPV4}(:[0-9]{{1,5}})?$")
_REGION = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class ConfigError(ContinuumError):
    """A setting is missing or malformed. ``variable`` is the environment variable's name."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {message}")


@dataclasses.dataclass(frozen=True)
class Address:
    """A listener address. ``host == ""`` means every interface."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str) -> Address:
    """Parse ``host:port``, ``:port`` or ``[v6]:port``. Raises ValueError otherwise."""
    match = re.fullmatch(
        r"(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})", text
    )
    if match is None:
        raise ValueError(f"{text!r} is not host:port or :port")
    port = int(match.group("port"))
    if port > 65535:
        raise ValueError(f"port {port} is out of range 0..65535")
    return Address(host=match.group("v6") or match.group("host") or "", port=port)


# --- declaration helpers -----------------------------------------------------------------


def _var(
    name: str,
    default: Any,
    doc: str,
    *,
    aliases: tuple[str, ...] = (),
    check: Callable[[Any], str | None] | None = None,
    secret: bool = False,
) -> Any:
    """A Settings field read from ``CONTINUUM_<name>`` (or an alias).

    A ``Mapping`` default is wrapped in a read-only proxy built per instance.
    """
    meta = {"env": PREFIX + name, "aliases": aliases, "doc": doc, "check": check, "secret": secret}
    if isinstance(default, Mapping):
        frozen = dict(default)
        return dataclasses.field(
            default_factory=lambda: MappingProxyType(frozen), metadata=meta, repr=not secret
        )
    return dataclasses.field(default=default, metadata=meta, repr=not secret)


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be >= {low:g}"


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def _url(*schemes: str) -> Callable[[Any], str | None]:
    def check(v: str) -> str | None:
        if v == "" or any(v.startswith(s + "://") and len(v) > len(s) + 3 for s in schemes):
            return None
        return f"must be a {'/'.join(schemes)} URL"

    return check


def _vantages(v: tuple[str, ...]) -> str | None:
    bad = [x for x in v if not _VANTAGE.match(x)]
    if not v:
        return "must list at least one ip[:port]"
    return f"not ip[:port]: {', '.join(bad)}" if bad else None


def _optional_vantages(v: tuple[str, ...]) -> str | None:
    return _vantages(v) if v else None


def _region_contexts(v: Mapping[str, str]) -> str | None:
    bad = [r for r in v if not _REGION.match(r)]
    return f"invalid region name: {', '.join(bad)}" if bad else None


def _namespaces(v: tuple[str, ...]) -> str | None:
    bad = [n for n in v if not _NAME.match(n)]
    return f"invalid namespace: {', '.join(bad)}" if bad else None


def _region(v: str) -> str | None:
    return None if v == "" or _REGION.match(v) else "must be a region name (one DNS label)"


DEFAULT_VANTAGES: Final = ("8.8.8.8", "1.1.1.1", "9.9.9.9")
DEFAULT_API_ADDR: Final = Address("", 8082)
DEFAULT_METRICS_ADDR: Final = Address("", 8080)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the process reads from its environment. Immutable once built."""

    region: str = _var(
        "REGION",
        "",
        "This instance's region (one DNS label). Required by `continuum run`.",
        aliases=("CATALYST_REGION",),
        check=_region,
    )
    kubeconfig: str = _var(
        "KUBECONFIG",
        "",
        "Kubeconfig file with one context per region; empty = in-cluster config.",
        aliases=("KUBECONFIG",),
    )
    region_contexts: Mapping[str, str] = _var(
        "REGION_CONTEXTS",
        {},
        "Kubeconfig context of each region: `region=context,...`. "
        "Empty = this region uses the current context.",
        check=_region_contexts,
    )
    watch_namespaces: tuple[str, ...] = _var(
        "WATCH_NAMESPACES",
        (),
        "Namespaces whose Continuums are watched, comma-separated; empty = all namespaces.",
        check=_namespaces,
    )
    role_reassert: bool = _var(
        "ROLE_REASSERT",
        True,
        "After a change of acting primary, touch the new primary's CNPG managed-role "
        "passwordSecrets (an annotation, never the data) so CNPG re-applies the passwords; "
        "needs `patch` on Secrets in the pairs' namespaces.",
    )
    nats_url: str = _var(
        "NATS_URL",
        "",
        "NATS server for audit events; empty = no publisher (events stay in the outbox).",
        aliases=("NATS_URL",),
        check=_url("nats", "tls", "ws", "wss"),
    )
    audit_subject: str = _var("AUDIT_SUBJECT", "catalyst.audit", "Subject audit events go to.")
    audit_stream: str = _var(
        "AUDIT_STREAM", "CATALYST_AUDIT", "JetStream stream that stores audit events."
    )
    audit_outbox_limit: int = _var(
        "AUDIT_OUTBOX_LIMIT",
        10000,
        "Audit events accepted (durable) but not yet stored in JetStream; when full, emitters "
        "wait (back-pressure), readiness turns false and AuditDelivered says OutboxFull — "
        "nothing is dropped (reconcile-success heartbeats are coalesced meanwhile).",
        check=_at_least(1),
    )
    audit_outbox_namespace: str = _var(
        "AUDIT_OUTBOX_NAMESPACE",
        "",
        "Namespace of the durable audit outbox (one ConfigMap per pending batch of accepted "
        "events); empty = the pod's own namespace (service account), else `openova-system`.",
    )
    audit_required: bool = _var(
        "AUDIT_REQUIRED",
        False,
        "Refuse to start a switchover while no audit publisher is connected. Audit never "
        "rolls back a finished data-plane change either way.",
    )
    pdm_url: str = _var(
        "PDM_URL",
        "",
        "Pool Domain Manager base URL (LUA record commits when DNS_WRITER=pdm).",
        aliases=("PDM_API_URL",),
        check=_url("http", "https"),
    )
    pdm_token: str = _var(
        "PDM_TOKEN",
        "",
        "Token sent to PDM as `X-Catalyst-Token`.",
        aliases=("PDM_AUTH_TOKEN",),
        secret=True,
    )
    powerdns_api_url: str = _var(
        "POWERDNS_API_URL",
        "",
        "PowerDNS authoritative HTTP API base URL (when DNS_WRITER=powerdns).",
        check=_url("http", "https"),
    )
    powerdns_api_key: str = _var(
        "POWERDNS_API_KEY", "", "PowerDNS API key (`X-API-Key`).", secret=True
    )
    powerdns_server_id: str = _var(
        "POWERDNS_SERVER_ID", "localhost", "PowerDNS server id in API paths."
    )
    dns_writer: Literal["pdm", "powerdns"] = _var(
        "DNS_WRITER",
        "pdm",
        "Which API writes LUA records: `pdm` or `powerdns`.",
        check=_one_of("pdm", "powerdns"),
    )
    health_vantages: tuple[str, ...] = _var(
        "HEALTH_VANTAGES",
        DEFAULT_VANTAGES,
        "DNS resolvers (`ip[:port]`, comma-separated) the dns-probes health check asks; "
        "a CR's `spec.health.vantages` overrides it.",
        check=_vantages,
    )
    dns_verify_servers: tuple[str, ...] = _var(
        "DNS_VERIFY_SERVERS",
        (),
        "Authoritative DNS servers (`ip[:port]`, comma-separated) that `flip-dns` asks, after "
        "writing, until they answer the new primary's addresses; empty skips that check.",
        check=_optional_vantages,
    )
    health_probe_timeout: float = _var(
        "HEALTH_PROBE_TIMEOUT", 3.0, "Seconds one DNS vantage probe may take.", check=_positive
    )
    health_delay_seconds: float = _var(
        "HEALTH_DELAY_SECONDS",
        30.0,
        "Seconds between a successful switchover and its health check; 0 = at once.",
        check=_at_least(0),
    )
    # RUF009: _var is this module's field specifier; Address is a frozen (immutable) value.
    api_addr: Address | None = _var(  # noqa: RUF009
        "API_ADDR",
        DEFAULT_API_ADDR,
        "HTTP API listener (`host:port` or `:port`); empty disables the API.",
    )
    api_token: str = _var(
        "API_TOKEN",
        "",
        "Optional bearer token the API requires in addition to the owner-tier header.",
        secret=True,
    )
    api_body_limit_bytes: int = _var(
        "API_BODY_LIMIT_BYTES", 65536, "Largest accepted API request body.", check=_at_least(1)
    )
    metrics_addr: Address | None = _var(  # noqa: RUF009
        "METRICS_ADDR",
        DEFAULT_METRICS_ADDR,
        "Prometheus metrics listener; empty disables metrics.",
        aliases=("METRICS_ADDR",),
    )
    log_level: Literal["debug", "info", "warning", "error"] = _var(
        "LOG_LEVEL",
        "info",
        "`debug`, `info`, `warning` or `error`.",
        aliases=("LOG_LEVEL",),
        check=_one_of("debug", "info", "warning", "error"),
    )
    log_format: Literal["json", "console"] = _var(
        "LOG_FORMAT",
        "json",
        "`json` (one object per line) or `console` (for humans).",
        check=_one_of("json", "console"),
    )
    leader_election: bool = _var(
        "LEADER_ELECTION",
        True,
        "Elect one active replica per region with a Kubernetes Lease.",
        aliases=("LEADER_ELECT",),
    )
    sharding: bool = _var(
        "SHARDING",
        False,
        "Share the region's CRs among all its replicas (one membership Lease per replica, "
        "rendezvous hashing; docs/sharding.md) instead of electing one leader. Uses the "
        "LEADER_LEASE_* namespace, duration and renew deadline.",
    )
    shard_settle_seconds: float = _var(
        "SHARD_SETTLE_SECONDS",
        2.5,
        "With SHARDING: a replica that has just joined starts no actor until the member set "
        "it sees has not changed for this long (at most LEADER_LEASE_SECONDS), so replicas "
        "started together do not start and then hand over each other's CRs; 0: none "
        "(< LEADER_LEASE_SECONDS).",
        check=_at_least(0),
    )
    api_advertise_url: str = _var(
        "API_ADVERTISE_URL",
        "",
        "With SHARDING: the URL at which the peers reach this replica's API (published in "
        "its membership Lease); empty: http://<POD_IP>:<API port> when POD_IP is set. A "
        "request for a CR another replica runs is forwarded there; with neither, it "
        "answers 404.",
        check=_url("http", "https"),
    )
    pod_ip: str = _var(
        "POD_IP",
        "",
        "The pod's IP (the chart sets it from the downward API when sharded); see "
        "API_ADVERTISE_URL.",
    )
    leader_lease_name: str = _var(
        "LEADER_LEASE_NAME",
        "continuum-controller.openova.io",
        "Name of the leader-election Lease.",
    )
    leader_lease_namespace: str = _var(
        "LEADER_LEASE_NAMESPACE",
        "",
        "Namespace of the leader-election Lease; empty = the pod's own namespace "
        "(service account), else `openova-system`.",
        aliases=("LEADER_ELECT_NS",),
    )
    leader_lease_seconds: float = _var(
        "LEADER_LEASE_SECONDS", 15.0, "Leader Lease duration.", check=_positive
    )
    leader_renew_deadline: float = _var(
        "LEADER_RENEW_DEADLINE",
        10.0,
        "A leader that could not renew for this long steps down (< LEADER_LEASE_SECONDS).",
        check=_positive,
    )
    lease_safety_margin_seconds: float = _var(
        "LEASE_SAFETY_MARGIN_SECONDS",
        5.0,
        "A writer stops acting as writer this long before its witness lease would expire "
        "(clock-skew margin).",
        check=_at_least(0),
    )
    witness_secret_namespace: str = _var(
        "WITNESS_SECRET_NAMESPACE",
        "catalyst-controllers",
        "Namespace the witness Secrets (Cloudflare token, TSIG key) are read from.",
        aliases=("WITNESS_SECRET_NS",),
    )
    witness_context: str = _var(
        "WITNESS_CONTEXT",
        "",
        "Kubeconfig context of the (third-site) cluster holding k8s-lease witness Leases; "
        "empty = this region's cluster (single-cluster only).",
    )
    witness_lease_namespace: str = _var(
        "WITNESS_LEASE_NAMESPACE",
        "",
        "Default namespace of k8s-lease witness Leases; empty = the controller's namespace.",
        aliases=("CATALYST_LEASE_NS",),
    )
    witness_in_memory: bool = _var(
        "WITNESS_IN_MEMORY",
        False,
        "Allow the test-only `in-memory` witness kind.",
        aliases=("WITNESS_IN_MEMORY",),
    )
    cluster_domain: str = _var(
        "CLUSTER_DOMAIN",
        "cluster.local",
        "DNS suffix of in-cluster Services.",
        aliases=("CLUSTER_DOMAIN",),
    )
    shutdown_timeout_seconds: float = _var(
        "SHUTDOWN_TIMEOUT_SECONDS",
        20.0,
        "Bound on a graceful shutdown (actors stopped, leases released).",
        check=_positive,
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build and validate Settings from ``env`` (pass ``os.environ``).

        Raises :class:`ConfigError` naming the first invalid variable. Never reads anything
        but ``env``.
        """
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            meta = field.metadata
            name, raw = _lookup(env, meta["env"], meta["aliases"])
            if raw is None:
                continue
            if raw.strip() == "" and hints[field.name] != Address | None:
                continue
            try:
                value = _parse(hints[field.name], raw.strip())
            except ValueError as err:
                raise ConfigError(name, str(err)) from None
            check = meta["check"]
            problem = check(value) if check is not None and value is not None else None
            if problem is not None:
                raise ConfigError(name, f"{problem} (got {_shown(raw, meta['secret'])})")
            values[field.name] = value
        settings = cls(**values)
        settings._check_cross_fields()
        return settings

    def _check_cross_fields(self) -> None:
        if self.leader_renew_deadline >= self.leader_lease_seconds:
            raise ConfigError(
                PREFIX + "LEADER_RENEW_DEADLINE", "must be less than LEADER_LEASE_SECONDS"
            )
        if self.shard_settle_seconds >= self.leader_lease_seconds:
            raise ConfigError(
                PREFIX + "SHARD_SETTLE_SECONDS", "must be less than LEADER_LEASE_SECONDS"
            )

    def require_for_run(self) -> None:
        """Check what ``continuum run`` needs beyond well-formed values.

        Raises ConfigError for a missing ``CONTINUUM_REGION``, or a DNS writer selected
        without its URL.
        """
        if not self.region:
            raise ConfigError(PREFIX + "REGION", "required (this instance's region)")
        if self.dns_writer == "powerdns" and not self.powerdns_api_url:
            raise ConfigError(PREFIX + "POWERDNS_API_URL", "required when DNS_WRITER=powerdns")


DEFAULTS: Final = Settings()
"""Every setting at its default: the one place a default is written. A component that has
its own default for a setting (an options struct, the actor environment) takes it from here."""


def _lookup(
    env: Mapping[str, str], primary: str, aliases: tuple[str, ...]
) -> tuple[str, str | None]:
    if primary in env:
        return primary, env[primary]
    for alias in aliases:
        if alias in env:
            return alias, env[alias]
    return primary, None


_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _parse(hint: Any, raw: str) -> Any:
    """Parse ``raw`` into the field's type. Raises ValueError with a readable message."""
    if hint == Address | None:
        return None if raw == "" else parse_address(raw)
    if hint is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"{raw!r} is not a boolean (true/false, 1/0, yes/no, on/off)")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
    if hint is float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{raw!r} is not a finite number")
        return value
    if hint == tuple[str, ...]:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if hint == Mapping[str, str]:
        out: dict[str, str] = {}
        for part in (p.strip() for p in raw.split(",") if p.strip()):
            key, sep, item = part.partition("=")
            if not sep or not key.strip() or not item.strip():
                raise ValueError(f"{part!r} is not key=value")
            out[key.strip()] = item.strip()
        return MappingProxyType(out)
    return raw


def _shown(raw: str, secret: bool) -> str:
    return "[REDACTED]" if secret else repr(raw)


def known_variables() -> frozenset[str]:
    """Every environment variable name Settings reads (primary names and aliases)."""
    names: set[str] = set()
    for field in dataclasses.fields(Settings):
        names.add(field.metadata["env"])
        names.update(field.metadata["aliases"])
    return frozenset(names)


def _default_text(value: Any) -> str:
    if value is None or value == "" or value == () or value == {}:
        return "(empty)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_table() -> str:
    """The Markdown table of every variable (what ``docs/configuration.md`` contains)."""
    rows = [
        "| Variable | Aliases | Default | Meaning |",
        "|----------|---------|---------|---------|",
    ]
    for field in dataclasses.fields(Settings):
        meta = field.metadata
        aliases = ", ".join(f"`{a}`" for a in meta["aliases"] if a != meta["env"]) or "—"
        value = field.default
        if field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        default = _default_text(value)
        rows.append(f"| `{meta['env']}` | {aliases} | `{default}` | {meta['doc']} |")
    return "\n".join(rows) + "\n"
