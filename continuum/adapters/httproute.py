"""Backend weights of Gateway API ``HTTPRoute``s: a :class:`~continuum.ports.TrafficRoutes`.

Weights are keyed by backend name (``rules[].backendRefs[].name``, ``<app>-<region>`` by
convention, :func:`~continuum.messages.switchover.backend_in_region`), never by position
(another tool may reorder the rules). A backend name that appears in several rules is one
backend: every occurrence is set, and its weight reads from the first. A missing weight counts
as 1 (Gateway API default).

A write replaces ``spec.rules`` with a JSON merge patch under a ``resourceVersion``
precondition; on 409 the route is re-read and the change recomputed. A write that would
change nothing is not sent.

A drain that leaves no backend above 0 also writes, in the same patch, the annotation
``dr.openova.io/weights-before-drain``: every backend's weight as the drain found them (JSON,
name-keyed). It stays until the next such drain replaces it; convergence reads it to give a
route left serving nothing its weights back (``docs/decisions.md`` #22). A malformed
annotation reads as no record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from continuum.adapters.kube import RegionClient
from continuum.errors import Conflict, NoBackendForRegion
from continuum.messages.switchover import ObjectRef, RouteState, backend_in_region

GROUP: Final = "gateway.networking.k8s.io"
VERSION: Final = "v1"
PLURAL: Final = "httproutes"
DEFAULT_WEIGHT: Final = 1
DEFAULT_ATTEMPTS: Final = 8
BEFORE_DRAIN_ANNOTATION: Final = "dr.openova.io/weights-before-drain"

#: Given the current name → weight map, the new weights of the backends to change.
Change = Callable[[dict[str, int]], dict[str, int]]


def _backends(route: dict[str, Any]) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    for rule in (route.get("spec") or {}).get("rules") or ():
        refs.extend(ref for ref in rule.get("backendRefs") or () if isinstance(ref, dict))
    return refs


def weights_of(route: dict[str, Any]) -> dict[str, int]:
    """Name → weight of every backend of a raw route (first occurrence wins)."""
    out: dict[str, int] = {}
    for ref in _backends(route):
        out.setdefault(str(ref.get("name", "")), int(ref.get("weight", DEFAULT_WEIGHT)))
    return out


def before_drain_of(route: dict[str, Any]) -> dict[str, int] | None:
    """The weights recorded by the last drain that left ``route`` serving nothing (``None``:
    no record, or one that is not a name → non-negative integer map)."""
    raw = ((route.get("metadata") or {}).get("annotations") or {}).get(BEFORE_DRAIN_ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        record = msgspec.json.decode(raw, type=dict[str, int])
    except msgspec.DecodeError:
        return None
    return record if all(w >= 0 for w in record.values()) else None


class HttpRoutes:
    """HTTPRoutes in one region's API (``client``)."""

    def __init__(self, client: RegionClient, *, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self.client = client
        self._attempts = attempts

    async def _get(self, route: ObjectRef) -> dict[str, Any]:
        obj = await self.client.call(
            self.client.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            route.namespace,
            PLURAL,
            route.name,
            what=f"get httproute {route.namespace}/{route.name}",
        )
        assert isinstance(obj, dict)
        return obj

    async def read_weights(self, route: ObjectRef) -> dict[str, int]:
        """Every backend's weight, name-keyed. Never writes."""
        return weights_of(await self._get(route))

    async def read_state(self, route: ObjectRef) -> RouteState:
        """Every backend's weight and the record of the last drain that left the route
        serving nothing. One read; never writes."""
        obj = await self._get(route)
        return RouteState(weights=weights_of(obj), before_drain=before_drain_of(obj))

    async def probe_write(self, route: ObjectRef) -> None:
        """A dry-run merge patch of ``route`` that changes nothing: raises ``KubeError`` when
        the API server would refuse a weight write (RBAC 403, admission). Never writes."""
        await self.client.call(
            self.client.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            route.namespace,
            PLURAL,
            route.name,
            {"metadata": {}},
            _content_type="application/merge-patch+json",
            dry_run="All",
            what=f"write (dry-run) httproute {route.namespace}/{route.name}",
        )

    async def _apply(
        self, route: ObjectRef, change: Change, *, record_emptying: bool = False
    ) -> dict[str, int]:
        """Set the weights ``change`` asks for; return the prior weights of the backends it
        actually changed. ``change`` may raise to refuse (nothing is written). With
        ``record_emptying``, a change leaving no backend above 0 records the weights it
        found (the module's annotation) in the same patch."""
        for _ in range(self._attempts):
            obj = await self._get(route)
            current = weights_of(obj)
            wanted = {n: w for n, w in change(current).items() if n in current}
            prior = {n: current[n] for n, w in wanted.items() if current[n] != w}
            if not prior:
                return {}
            rules = (obj.get("spec") or {}).get("rules") or []
            for rule in rules:
                for ref in rule.get("backendRefs") or ():
                    if ref.get("name") in prior:
                        ref["weight"] = wanted[ref["name"]]
            metadata: dict[str, Any] = {"resourceVersion": obj["metadata"]["resourceVersion"]}
            after = {**current, **wanted}
            if record_emptying and all(w == 0 for w in after.values()):
                record = msgspec.json.encode(dict(sorted(current.items()))).decode()
                metadata["annotations"] = {BEFORE_DRAIN_ANNOTATION: record}
            body = {"metadata": metadata, "spec": {"rules": rules}}
            try:
                await self.client.call(
                    self.client.custom.patch_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    route.namespace,
                    PLURAL,
                    route.name,
                    body,
                    _content_type="application/merge-patch+json",
                    what=f"set weights of httproute {route.namespace}/{route.name}",
                )
            except Conflict:
                continue
            return prior
        raise Conflict(
            f"set weights of httproute {route.namespace}/{route.name}: still conflicting "
            f"after {self._attempts} attempts",
            region=self.client.region,
            status=409,
        )

    @staticmethod
    def _of_region(route: ObjectRef, current: dict[str, int], region: str) -> list[str]:
        names = [n for n in current if backend_in_region(n, region)]
        if not names:
            raise NoBackendForRegion(
                f"httproute {route.namespace}/{route.name} has no backend of region "
                f"{region!r} (backends: {', '.join(current) or 'none'})"
            )
        return names

    async def drain(self, route: ObjectRef, region: str) -> dict[str, int]:
        """Weight 0 for every backend of ``region`` and only those; returns the prior
        weights of the backends changed (``{}`` when already drained). No backend of
        ``region`` → ``NoBackendForRegion`` and nothing written (never "drain all"). When
        it leaves no backend above 0, the weights it found are recorded (module doc)."""
        return await self._apply(
            route,
            lambda cur: dict.fromkeys(self._of_region(route, cur, region), 0),
            record_emptying=True,
        )

    async def restore(self, route: ObjectRef, prior: dict[str, int]) -> None:
        """Give each backend named in ``prior`` its weight back; other backends are left
        alone and names no longer on the route are ignored."""
        await self._apply(route, lambda _: dict(prior))

    async def shift_to(self, route: ObjectRef, region: str) -> dict[str, int]:
        """Each backend of ``region`` with weight 0 gets weight 1 (non-zero weights kept);
        returns the prior weights of the backends changed. No backend of ``region`` →
        ``NoBackendForRegion``."""

        def change(cur: dict[str, int]) -> dict[str, int]:
            names = self._of_region(route, cur, region)
            return {n: DEFAULT_WEIGHT for n in names if cur[n] == 0}

        return await self._apply(route, change)
