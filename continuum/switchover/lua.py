"""LUA-record synthesis: the DNS answer that makes one region the primary. Pure, byte-stable.

For every public hostname the synthesis emits one PowerDNS LUA ``A`` record whose body is an
``ifurlup`` call with two priority groups — the primary region's IPs first, every other
region's IPs second — so PowerDNS answers with the primary while its probe URL is healthy and
fails over to the standbys by itself otherwise.

Fixes of the earlier implementation (see ``docs/dns.md``):

* the Lua function is always ``ifurlup``; the CRD ``selector`` goes into the options table
  (``selector='pickclosest'`` …) and is validated against what ``ifurlup`` accepts;
* the probe host comes from the region (``probe_hosts[region]``), with the old
  ``probe-<second dash token>`` rewrite only as a fallback for regions without one;
* every output is byte-stable: regions are walked in sorted order (the wire form, with a
  fixed key order and records sorted by hostname, is PDM's: ``adapters/pdm.py``).

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import msgspec

from continuum.errors import InvalidSpec
from continuum.messages.dns import LuaRecord

LUA_FUNCTION = "ifurlup"
DEFAULT_SELECTOR = "pickfirst"
DEFAULT_INTERVAL_SECONDS = 5
DEFAULT_TIMEOUT_SECONDS = 2
DEFAULT_TTL_SECONDS = 30

# CRD ``spec.luaRecord.selector`` → ifurlup ``selector=`` option. ``ifurlup`` is the legacy
# CRD value (it used to be the function name); it keeps the reference's ``pickfirst`` option
# so the golden output is unchanged.
_SELECTOR_OPTIONS: dict[str, str] = {
    "ifurlup": "pickfirst",
    "pickfirst": "pickfirst",
    "pickclosest": "pickclosest",
    "random": "random",
    "hashed": "hashed",
    "all": "all",
}
# Weighted selectors need ``{weight, ip}`` pairs, which ifurlup's address groups do not carry.
_WEIGHTED_SELECTORS = frozenset({"pickwhashed", "pickwrandom", "wrandom", "whashed"})

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$"
)
_URL = re.compile(r"^https?://[^\s\"'\\]+$")
_PROBE_HOST = re.compile(r"^[A-Za-z0-9.-]+$")


class LuaSynthesisParams(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the synthesis needs, already resolved from the CR.

    ``region_ips`` maps region name → public LB IPv4s (order kept within a region).
    ``probe_hosts`` maps region name → the host its health probe URL uses
    (``spec.regions[].probeHost``); a region without one falls back to the label rewrite.
    ``selector`` is the CRD value. Interval, timeout and TTL ≤ 0 mean "default".
    """

    primary_region: str
    region_ips: dict[str, tuple[str, ...]]
    health_check_url: str
    hostnames: tuple[str, ...]
    probe_hosts: dict[str, str] = msgspec.field(default_factory=dict)
    selector: str = "ifurlup"
    health_check_interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    health_check_timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    ttl: int = DEFAULT_TTL_SECONDS


def synthesize(params: LuaSynthesisParams) -> list[LuaRecord]:
    """One LUA record per hostname (in the order given), all with the same body.

    Raises :class:`~continuum.errors.InvalidSpec` (``field`` names the culprit) when the
    primary is empty or has no IPs, the region map is empty, an IP is not IPv4, no hostname
    is given or one is malformed, the URL is not an absolute http(s) URL without quotes, or
    the selector is not one ``ifurlup`` accepts. Never does I/O.
    """
    primary = params.primary_region
    if not primary:
        raise InvalidSpec("primaryRegion", "primary region is required")
    if not params.region_ips:
        raise InvalidSpec("regions", "region → IP map is empty")
    if primary not in params.region_ips:
        raise InvalidSpec("regions", f"primary region {primary!r} has no entry in the IP map")
    if not params.hostnames:
        raise InvalidSpec("luaRecord.hostnames", "no hostnames available")
    for hostname in params.hostnames:
        if not _HOSTNAME.match(hostname):
            raise InvalidSpec("luaRecord.hostnames", f"invalid hostname {hostname!r}")
    selector_option = selector_option_for(params.selector)
    interval = params.health_check_interval_seconds
    timeout = params.health_check_timeout_seconds
    interval = interval if interval > 0 else DEFAULT_INTERVAL_SECONDS
    timeout = timeout if timeout > 0 else DEFAULT_TIMEOUT_SECONDS
    ttl = params.ttl if params.ttl > 0 else DEFAULT_TTL_SECONDS

    primary_group = list(params.region_ips[primary])
    if not primary_group:
        raise InvalidSpec("regions", f"primary region {primary!r} has no IPs")
    standby_group = [
        ip
        for region in sorted(params.region_ips)
        if region != primary
        for ip in params.region_ips[region]
    ]
    for ip in (*primary_group, *standby_group):
        _require_ipv4(ip)

    probe_url = probe_url_for(params)
    groups = [_lua_list(primary_group)]
    if standby_group:
        groups.append(_lua_list(standby_group))
    body = (
        f'{LUA_FUNCTION}("{probe_url}", {{{", ".join(groups)}}}, '
        f'{{selector="{selector_option}", interval={interval}, timeout={timeout}}})'
    )
    return [
        LuaRecord(hostname=hostname, body=body, ttl=ttl, primary_region=primary)
        for hostname in params.hostnames
    ]


def selector_option_for(selector: str) -> str:
    """The ``ifurlup`` ``selector=`` option for a CRD selector value (empty → default).

    Raises :class:`~continuum.errors.InvalidSpec` for weighted selectors (ifurlup groups
    carry no weights) and for unknown values.
    """
    if not selector:
        return DEFAULT_SELECTOR
    if selector in _WEIGHTED_SELECTORS:
        raise InvalidSpec(
            "luaRecord.selector",
            f"selector {selector!r} needs weighted addresses, which ifurlup does not take",
        )
    try:
        return _SELECTOR_OPTIONS[selector]
    except KeyError:
        allowed = ", ".join(sorted(_SELECTOR_OPTIONS))
        raise InvalidSpec(
            "luaRecord.selector", f"unknown selector {selector!r} (one of: {allowed})"
        ) from None


def probe_url_for(params: LuaSynthesisParams) -> str:
    """The health-check URL for the primary: its explicit probe host when configured, else
    the legacy ``probe-<label>`` rewrite of ``health_check_url``. Raises ``InvalidSpec``."""
    url = params.health_check_url
    if not _URL.match(url):
        raise InvalidSpec(
            "luaRecord.healthCheck.url", f"not an absolute http(s) URL without quotes: {url!r}"
        )
    probe_host = params.probe_hosts.get(params.primary_region, "")
    if probe_host:
        if not _PROBE_HOST.match(probe_host):
            raise InvalidSpec("regions[].probeHost", f"invalid probe host {probe_host!r}")
        return replace_host(url, probe_host)
    return rewrite_probe_url(url, region_label(params.primary_region))


def region_label(region: str) -> str:
    """Legacy label: the second ``-``-separated token when there are at least two
    (``hz-fsn-rtz-prod`` → ``fsn``), else the whole name. Not unique across regions
    (``hw-me-east-215-a-…`` and ``…-b-…`` both give ``me``): prefer explicit probe hosts."""
    tokens = region.split("-")
    return tokens[1] if len(tokens) >= 2 else region


def rewrite_probe_url(url: str, label: str) -> str:
    """Point ``url``'s first host label at ``probe-<label>`` (replacing an existing
    ``probe-…`` label, else prepending one); scheme, port, path and query are kept.

    ``https://api.example.com/healthz`` + ``fsn`` → ``https://probe-fsn.api.example.com/healthz``.
    Raises ``InvalidSpec`` for an empty url or label.
    """
    if not url or not label:
        raise InvalidSpec("luaRecord.healthCheck.url", "url and region label are required")
    scheme, host, port, path = _split_url(url)
    dot = host.find(".")
    first, rest = (host[:dot], host[dot:]) if dot > 0 else (host, "")
    host = f"probe-{label}{rest}" if first.startswith("probe-") else f"probe-{label}.{host}"
    return scheme + host + port + path


def replace_host(url: str, host: str) -> str:
    """``url`` with its host replaced by ``host``; scheme, port, path and query kept."""
    scheme, _, port, path = _split_url(url)
    return scheme + host + port + path


def _split_url(url: str) -> tuple[str, str, str, str]:
    """(``scheme://``, host, ``:port``, path) with empty strings for absent parts."""
    scheme, rest = "", url
    sep = url.find("://")
    if sep > 0:
        scheme, rest = url[: sep + 3], url[sep + 3 :]
    slash = rest.find("/")
    host, path = (rest[:slash], rest[slash:]) if slash > 0 else (rest, "")
    colon = host.find(":")
    port = ""
    if colon > 0:
        host, port = host[:colon], host[colon:]
    return scheme, host, port, path


def _lua_list(ips: Iterable[str]) -> str:
    return "{" + ", ".join(f'"{ip}"' for ip in ips) + "}"


def _require_ipv4(ip: str) -> None:
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise InvalidSpec("regions[].lbIPs", f"not an IPv4 address: {ip!r}") from None
