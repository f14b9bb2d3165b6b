"""LUA-record synthesis: goldens byte-exact, the REF-GAP fixes, validation, byte-stability."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.adapters.pdm import marshal_commit_body, marshal_records
from continuum.errors import InvalidSpec
from continuum.messages.dns import LuaRecord
from continuum.switchover.lua import (
    LuaSynthesisParams,
    region_label,
    rewrite_probe_url,
    synthesize,
)

GOLDEN = Path(__file__).parent / "golden"
FSN, HEL = "hz-fsn-rtz-prod", "hz-hel-rtz-prod"


def _golden_params(primary: str) -> LuaSynthesisParams:
    return LuaSynthesisParams(
        primary_region=primary,
        region_ips={FSN: ("5.1.2.3", "5.1.2.4"), HEL: ("5.5.6.7",)},
        selector="ifurlup",
        health_check_url="https://probe-fsn.example.com/healthz",
        health_check_interval_seconds=5,
        health_check_timeout_seconds=2,
        hostnames=("web.example.com", "api.example.com"),
        ttl=30,
    )


@pytest.mark.parametrize(
    ("primary", "golden"),
    [
        (FSN, "active-hotstandby-fsn-primary.golden"),
        (HEL, "active-hotstandby-hel-promoted.golden"),
    ],
)
def test_golden_output_is_reproduced_byte_exact(primary: str, golden: str) -> None:
    records = synthesize(_golden_params(primary))
    assert marshal_records(records) == (GOLDEN / golden).read_bytes()


def test_records_keep_the_supplied_hostname_order_and_marshal_sorts_them() -> None:
    records = synthesize(_golden_params(FSN))
    assert [r.hostname for r in records] == ["web.example.com", "api.example.com"]
    assert all(r.primary_region == FSN and r.ttl == 30 and r.type == "A" for r in records)


def test_function_is_always_ifurlup_and_selector_goes_into_the_options() -> None:
    params = msgspec.structs.replace(_golden_params(FSN), selector="pickclosest")
    (body,) = {r.body for r in synthesize(params)}
    assert body.startswith('ifurlup("')
    assert 'selector="pickclosest"' in body


@pytest.mark.parametrize("selector", ["pickwhashed", "wrandom", "roundrobin"])
def test_selectors_ifurlup_cannot_take_are_rejected(selector: str) -> None:
    params = msgspec.structs.replace(_golden_params(FSN), selector=selector)
    with pytest.raises(InvalidSpec) as raised:
        synthesize(params)
    assert raised.value.field == "luaRecord.selector"


def test_explicit_probe_host_distinguishes_regions_the_label_rule_conflates() -> None:
    a, b = "hw-me-east-215-a-rtz-prod", "hw-me-east-215-b-rtz-prod"
    assert region_label(a) == region_label(b) == "me"
    base = LuaSynthesisParams(
        primary_region=a,
        region_ips={a: ("10.0.0.1",), b: ("10.0.0.2",)},
        probe_hosts={a: "probe-a.example.com", b: "probe-b.example.com"},
        health_check_url="https://probe-me.example.com:8443/healthz?full=1",
        hostnames=("shop.example.com",),
    )
    forward = synthesize(base)[0].body
    back = synthesize(msgspec.structs.replace(base, primary_region=b))[0].body
    assert '"https://probe-a.example.com:8443/healthz?full=1"' in forward
    assert '"https://probe-b.example.com:8443/healthz?full=1"' in back


def test_region_without_probe_host_falls_back_to_the_label_rewrite() -> None:
    params = msgspec.structs.replace(
        _golden_params(HEL), probe_hosts={FSN: "probe-only-fsn.example.com"}
    )
    assert '"https://probe-hel.example.com/healthz"' in synthesize(params)[0].body


@pytest.mark.parametrize(
    ("url", "label", "expected"),
    [
        ("https://probe-fsn.example.com/healthz", "hel", "https://probe-hel.example.com/healthz"),
        ("https://api.example.com/healthz", "fsn", "https://probe-fsn.api.example.com/healthz"),
        ("https://probe-old.x.y.z/path?q=1", "new", "https://probe-new.x.y.z/path?q=1"),
        (
            "https://probe-fsn.example.com:8443/healthz",
            "hel",
            "https://probe-hel.example.com:8443/healthz",
        ),
    ],
)
def test_probe_url_rewrite_matches_the_spec_examples(url: str, label: str, expected: str) -> None:
    assert rewrite_probe_url(url, label) == expected


def test_standby_group_is_omitted_when_there_is_only_the_primary() -> None:
    params = msgspec.structs.replace(_golden_params(FSN), region_ips={FSN: ("5.1.2.3",)})
    assert '{{"5.1.2.3"}}, {selector=' in synthesize(params)[0].body


def test_standby_regions_are_ordered_by_name_whatever_the_map_order() -> None:
    ips = {"c-zz": ("3.3.3.3",), "a-aa": ("1.1.1.1",), "b-bb": ("2.2.2.2", "2.2.2.1")}
    params = msgspec.structs.replace(_golden_params(FSN), primary_region="c-zz", region_ips=ips)
    assert '{{"3.3.3.3"}, {"1.1.1.1", "2.2.2.2", "2.2.2.1"}}' in synthesize(params)[0].body


def test_non_positive_interval_timeout_and_ttl_take_the_defaults() -> None:
    params = msgspec.structs.replace(
        _golden_params(FSN),
        health_check_interval_seconds=0,
        health_check_timeout_seconds=-1,
        ttl=0,
    )
    record = synthesize(params)[0]
    assert "interval=5, timeout=2})" in record.body
    assert record.ttl == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"primary_region": ""}, "primaryRegion"),
        ({"region_ips": {}}, "regions"),
        ({"primary_region": "hz-ber-rtz-prod"}, "regions"),
        ({"region_ips": {FSN: ()}}, "regions"),
        ({"region_ips": {FSN: ("5.1.2.3",), HEL: ('1.2.3.4"); os.exit()--',)}}, "regions[].lbIPs"),
        ({"hostnames": ()}, "luaRecord.hostnames"),
        ({"hostnames": ("bad host",)}, "luaRecord.hostnames"),
        ({"health_check_url": "ftp://x/healthz"}, "luaRecord.healthCheck.url"),
        ({"health_check_url": 'https://x"/healthz'}, "luaRecord.healthCheck.url"),
        ({"probe_hosts": {FSN: "evil'host"}}, "regions[].probeHost"),
    ],
)
def test_invalid_inputs_raise_invalid_spec_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    params = msgspec.structs.replace(_golden_params(FSN), **change)
    with pytest.raises(InvalidSpec) as raised:
        synthesize(params)
    assert raised.value.field == field


def test_commit_body_has_records_then_zone_and_go_html_escaping() -> None:
    record = LuaRecord(hostname="a.example.com", body="x<y>&z", ttl=5, primary_region="r")
    assert marshal_commit_body("example.com", [record]) == (
        b'{"records":[{"hostname":"a.example.com","luaBody":"x\\u003cy\\u003e\\u0026z",'
        b'"ttl":5,"primaryRegion":"r"}],"zone":"example.com"}'
    )


_region = st.from_regex(r"[a-z]{2}-[a-z]{3}-[a-z]{2}", fullmatch=True)
_ipv4 = st.ip_addresses(v=4).map(str)


@given(
    ips=st.dictionaries(
        _region, st.lists(_ipv4, min_size=1, max_size=3).map(tuple), min_size=1, max_size=4
    ),
    hosts=st.lists(
        st.from_regex(r"[a-z]{1,8}\.example\.com", fullmatch=True),
        min_size=1,
        max_size=4,
        unique=True,
    ),
)
def test_output_is_byte_stable_under_input_reordering(
    ips: dict[str, tuple[str, ...]], hosts: list[str]
) -> None:
    primary = min(ips)
    params = LuaSynthesisParams(
        primary_region=primary,
        region_ips=ips,
        health_check_url="https://probe-x.example.com/healthz",
        hostnames=tuple(hosts),
    )
    shuffled = msgspec.structs.replace(
        params, region_ips=dict(reversed(list(ips.items()))), hostnames=tuple(reversed(hosts))
    )
    assert marshal_records(synthesize(params)) == marshal_records(synthesize(shuffled))
