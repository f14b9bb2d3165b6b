"""Bad input: a corpus of malformed Continuum CRs against region A's API while both
controllers run.

Each corpus entry is applied twice:

* over HTTP, as a user would: the emulator validates against the CRD schema and answers 422
  naming the field (correct API-server behaviour), or it accepts the object and the
  controller's own validation marks it ``phase: Failed`` naming the field;
* written straight into the store with schema validation bypassed (as if an older CRD or a
  broken admission let it through): the controller must mark every one ``Failed`` naming
  the field.

Meanwhile the valid CR keeps working: its lease keeps being renewed, no controller crashes
or stalls, and a switchover A→B succeeds afterwards under the invariant checker.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from continuum_sim.stack import SimStack
from tests.reliability.harness import (
    CONTINUUM,
    RENEW,
    A,
    B,
    assert_stored_once,
    checking,
    eventually,
    read_lease,
    reliability_spec,
    running_controllers,
    stored_audit_events,
    switch,
    switchover_finished,
    wait_settled,
)

pytestmark = pytest.mark.anyio

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node.pop(leaf)

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(spec: dict[str, Any]) -> None:
        for m in mutations:
            m(spec)

    return mutate


HUGE = "x" * 200_000

# (id, mutation of spec, a token the error must name)
CORPUS: list[tuple[str, Mutation, str]] = [
    ("app-int", _set("applicationRef", 123), "applicationRef"),
    ("app-empty", _set("applicationRef", ""), "applicationRef"),
    ("app-missing", _drop("applicationRef"), "applicationRef"),
    ("app-huge", _set("applicationRef", HUGE), "applicationRef"),
    ("app-unicode", _set("applicationRef", "shöp-ünïcode"), "applicationRef"),
    ("app-emoji", _set("applicationRef", "😀"), "applicationRef"),
    ("app-null", _set("applicationRef", None), "applicationRef"),
    ("primary-missing", _drop("primaryRegion"), "primaryRegion"),
    ("primary-int", _set("primaryRegion", 7), "primaryRegion"),
    ("primary-upper", _set("primaryRegion", "Region_A"), "primaryRegion"),
    ("primary-unicode", _set("primaryRegion", "région-a"), "primaryRegion"),
    ("primary-huge", _set("primaryRegion", "a" * 300), "primaryRegion"),
    ("standby-string", _set("hotStandbyRegions", "region-b"), "hotStandbyRegions"),
    ("standby-empty", _set("hotStandbyRegions", []), "hotStandbyRegions"),
    ("standby-is-primary", _set("hotStandbyRegions", ["region-a"]), "hotStandbyRegions"),
    ("standby-dup", _set("hotStandbyRegions", ["region-b", "region-b"]), "hotStandbyRegions"),
    ("standby-unknown-region", _set("hotStandbyRegions", ["region-z"]), "regions"),
    ("standby-int", _set("hotStandbyRegions", [5]), "hotStandbyRegions"),
    ("lease-missing", _drop("leaseClient"), "leaseClient"),
    ("lease-kind-unknown", _set("leaseClient.kind", "etcd"), "kind"),
    ("lease-kind-missing", _drop("leaseClient.kind"), "kind"),
    ("lease-kind-int", _set("leaseClient.kind", 1), "kind"),
    ("ttl-too-big", _set("leaseClient.config.ttlSeconds", 900), "ttlSeconds"),
    ("ttl-too-small", _set("leaseClient.config.ttlSeconds", 1), "ttlSeconds"),
    ("ttl-string", _set("leaseClient.config.ttlSeconds", "thirty"), "ttlSeconds"),
    ("ttl-negative", _set("leaseClient.config.ttlSeconds", -5), "ttlSeconds"),
    ("ttl-float", _set("leaseClient.config.ttlSeconds", 30.5), "ttlSeconds"),
    ("renew-zero", _set("leaseClient.config.renewSeconds", 0), "renewSeconds"),
    ("renew-vs-ttl", _set("leaseClient.config.renewSeconds", 5), "renewSeconds"),
    ("renew-huge", _set("leaseClient.config.renewSeconds", 10**6), "renewSeconds"),
    ("lease-config-string", _set("leaseClient.config", "nats"), "config"),
    (
        "cloudflare-no-url",
        _both(_set("leaseClient.kind", "cloudflare-kv"), _set("leaseClient.config", {})),
        "baseURL",
    ),
    (
        "quorum-no-resolvers",
        _both(_set("leaseClient.kind", "dns-quorum"), _set("leaseClient.config", {})),
        "resolvers",
    ),
    ("auto-string", _set("autoFailover", "yes"), "autoFailover"),
    ("observations-zero", _set("autoFailoverObservations", 0), "autoFailoverObservations"),
    ("observations-huge", _set("autoFailoverObservations", 10**12), "autoFailoverObservations"),
    ("pair-string", _set("cnpgPair", "shop-pg"), "cnpgPair"),
    ("pair-name-empty", _set("cnpgPair.name", ""), "cnpgPair"),
    ("route-name-int", _set("httpRoute.name", 42), "httpRoute"),
    ("regions-string", _set("regions", "region-a"), "regions"),
    ("regions-name-missing", _drop("regions.0.name"), "regions"),
    ("regions-dup", _set("regions.1.name", "region-a"), "regions"),
    ("lbip-bad", _set("regions.0.lbIPs", ["999.1.1.1"]), "lbIPs"),
    ("lbip-string", _set("regions.0.lbIPs", "127.0.10.1"), "lbIPs"),
    ("lbip-nul", _set("regions.0.lbIPs", ["1.2.3.4\u0000"]), "lbIPs"),
    ("probehost-huge", _set("regions.0.probeHost", "h" * 1000), "probeHost"),
    ("lua-hostnames-empty", _set("luaRecord.hostnames", []), "hostnames"),
    ("lua-hostname-space", _set("luaRecord.hostnames", ["not a host"]), "hostnames"),
    ("lua-ttl-negative", _set("luaRecord.ttl", -1), "ttl"),
    ("lua-url-scheme", _set("luaRecord.healthCheck.url", "ftp://x"), "url"),
    ("lua-interval-zero", _set("luaRecord.healthCheck.intervalSeconds", 0), "intervalSeconds"),
    ("drain-negative", _set("switchover.drainSeconds", -1), "drainSeconds"),
    ("drain-huge", _set("switchover.drainSeconds", 10**9), "drainSeconds"),
    ("target-unknown", _set("switchover.targetRegion", "region-z"), "targetRegion"),
    ("requested-string", _set("switchover.requested", "true"), "requested"),
    ("mechanism-unknown", _set("switchover.mechanism", "teleport"), "mechanism"),
    ("failback-string", _set("failback.approved", "yes"), "approved"),
    (
        "latency-unknown-region",
        _set("health", {"latencyProbe": {"urls": {"region-z": "http://127.0.0.1:1/x"}}}),
        "urls",
    ),
]


def _object(stack: SimStack, name: str, mutation: Mutation) -> dict[str, Any]:
    obj = copy.deepcopy(stack.continuum())
    obj["metadata"] = {"name": name, "namespace": stack.spec.namespace}
    mutation(obj["spec"])
    return obj


def _write_unvalidated(stack: SimStack, obj: dict[str, Any]) -> None:
    emulator = stack.emulators[A]
    rt = emulator.resource_type("dr.openova.io", "v1", "continuums")
    emulator.store.create(dataclasses.replace(rt, schema=None), stack.spec.namespace, obj)


def _failed_naming(stack: SimStack, name: str, token: str) -> str:
    """'' when the CR is Failed with a SpecValid=False message naming ``token``."""
    found = stack.emulators[A].store.get(*CONTINUUM, stack.spec.namespace, name)
    status = (found or {}).get("status") or {}
    if status.get("phase") != "Failed":
        return f"{name}: phase {status.get('phase')!r}"
    conds = [c for c in status.get("conditions", []) if c.get("type") == "SpecValid"]
    message = conds[0].get("message", "") if conds else ""
    if token not in message:
        return f"{name}: message {message[:200]!r} does not name {token!r}"
    return ""


@pytest.mark.timeout(180)
async def test_malformed_crs_are_refused_naming_the_field_and_valid_ones_keep_working(
    tmp_path: Path,
) -> None:
    assert len(CORPUS) >= 50
    outcome: dict[str, str] = {}
    async with (
        SimStack(tmp_path, spec=reliability_spec()) as stack,
        running_controllers(stack) as procs,
    ):
        assert await wait_settled(stack, procs) == A
        _, gen_before, expires_before = await read_lease(stack)
        url = f"{stack.emulators[A].url}/apis/dr.openova.io/v1/namespaces/shop/continuums"
        async with httpx.AsyncClient(timeout=30) as http:
            for index, (case, mutation, token) in enumerate(CORPUS):
                answer = await http.post(url, json=_object(stack, f"http-{index:03d}", mutation))
                if answer.status_code == 422:
                    assert token in answer.json()["message"], (case, answer.text[:300])
                    outcome[case] = "422"
                else:
                    assert answer.status_code == 201, (case, answer.text[:300])
                    outcome[case] = "controller"
        for index, (_, mutation, _) in enumerate(CORPUS):
            _write_unvalidated(stack, _object(stack, f"raw-{index:03d}", mutation))

        async def all_failed() -> bool:
            for index, (case, _, token) in enumerate(CORPUS):
                names = [f"raw-{index:03d}"]
                if outcome[case] == "controller":
                    names.append(f"http-{index:03d}")
                for name in names:
                    if _failed_naming(stack, name, token):
                        return False
            return True

        try:
            await eventually(all_failed, timeout=60, what="every malformed CR Failed")
        except AssertionError:
            problems = [
                p
                for index, (_, _, token) in enumerate(CORPUS)
                for p in [_failed_naming(stack, f"raw-{index:03d}", token)]
                if p
            ]
            raise AssertionError(problems[:10]) from None
        for proc in procs.values():
            assert proc.alive, proc.log_tail()
        assert expires_before is not None

        async def renewed() -> bool:
            holder, _, expires = await read_lease(stack)
            return holder == A and expires is not None and expires > expires_before

        await eventually(renewed, timeout=3 * RENEW, what="the valid CR's lease renewed")
        _, gen_after, _ = await read_lease(stack)
        async with checking(stack):
            answer = await switch(procs[A], B)
            assert answer.status_code == 202, answer.text
            done = await switchover_finished(stack, A, answer.json()["id"])
            assert done["result"] == "Succeeded", done
            assert await wait_settled(stack, procs) == B
        for proc in procs.values():
            assert proc.alive, proc.log_tail()
        events = await stored_audit_events(stack)
    assert_stored_once(events)
    by_api = sum(1 for v in outcome.values() if v == "422")
    print(
        f"\nbad input: corpus={len(CORPUS)} rejected_422={by_api} "
        f"failed_by_controller_http={len(CORPUS) - by_api} failed_by_controller_raw={len(CORPUS)} "
        f"lease_generation {gen_before}->{gen_after} audit_events={len(events)}"
    )
