"""The CNPG pair across regions: a :class:`~continuum.ports.ClusterPair` over kubernetes-asyncio.

Locating the pair: in each region's API, the ``Cluster`` (``postgresql.cnpg.io/v1``) in the
pair's namespace labelled ``catalyst.openova.io/cnpg-pair=<pair name>`` — exactly one per
region (none → ``NotFound``, several → ``Invalid``). Names are cached per region and looked up
again when the cached Cluster is gone.

Roles come from each Cluster's LIVE spec (``spec.replica.primary`` / ``spec.replica.self`` in
CNPG's distributed topology, else ``spec.replica.enabled``), never from labels, so a
switchover back (failback) works like the first one.

Every write is a JSON merge patch (no read-modify-write race). Every wait polls the Cluster on
the injected clock every ``poll_interval`` seconds; waits are unbounded unless a timeout is
given (the domain bounds each call) and cancellable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import anyio

from continuum.adapters.kube import KubeClients
from continuum.errors import Invalid, KubeError, NotFound
from continuum.messages.switchover import ObjectRef, PairHalf, PairState
from continuum.ports import Clock

GROUP: Final = "postgresql.cnpg.io"
VERSION: Final = "v1"
PLURAL: Final = "clusters"
PAIR_LABEL: Final = "catalyst.openova.io/cnpg-pair"
FENCE_ANNOTATION: Final = "cnpg.io/fencedInstances"
FENCE_ALL: Final = '["*"]'
MERGE_PATCH: Final = "application/merge-patch+json"
#: Ready-condition reason with which the operator refuses a promotion (wrong token).
REASON_PROMOTION_REFUSED: Final = "PromotionTokenMismatch"
DEFAULT_POLL_INTERVAL: Final = 0.5
#: The first re-read of a wait comes this soon; each later one waits twice as long, up to the
#: poll interval (an operator that reacts in milliseconds is not waited on for 0.5 s).
FIRST_POLL_DELAY: Final = 0.02


def _ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def is_fenced(obj: Mapping[str, Any]) -> bool:
    """Whether the Cluster carries a non-empty ``cnpg.io/fencedInstances`` annotation."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(FENCE_ANNOTATION, "")
    return value.strip() not in ("", "[]")


def managed_role_password_secrets(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``spec.managed.roles[].passwordSecret.name`` of a raw Cluster, de-duplicated in
    spec order; roles without a secret are skipped, no roles give ``()``."""
    roles = ((obj.get("spec") or {}).get("managed") or {}).get("roles") or ()
    names: list[str] = []
    for role in roles:
        secret = (role.get("passwordSecret") or {}) if isinstance(role, Mapping) else {}
        name = secret.get("name") if isinstance(secret, Mapping) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return tuple(names)


def parse_half(region: str, obj: Mapping[str, Any]) -> PairHalf:
    """A :class:`PairHalf` from a raw Cluster; missing fields read as zero values."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    replica = spec.get("replica") or {}
    status = obj.get("status") or {}
    ready = _ready_condition(obj)
    return PairHalf(
        region=region,
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        ready=ready is not None and ready.get("status") == "True",
        ready_instances=_int_or_none(status.get("readyInstances")),
        replica_enabled=bool(replica.get("enabled", False)),
        replica_primary=str(replica.get("primary") or ""),
        replica_self=str(replica.get("self") or ""),
        current_primary=str(status.get("currentPrimary") or ""),
        demotion_token=str(status.get("demotionToken") or ""),
        fenced=is_fenced(obj),
        timeline_id=_int_or_none(status.get("timelineID")),
        phase=str(status.get("phase") or ""),
        role_secrets=managed_role_password_secrets(obj),
    )


def reconciled(obj: Mapping[str, Any]) -> bool:
    """Whether the operator has reconciled the Cluster's current spec: its Ready condition
    carries an ``observedGeneration`` at least ``metadata.generation``."""
    cond = _ready_condition(obj)
    generation = _int_or_none((obj.get("metadata") or {}).get("generation")) or 0
    observed = _int_or_none(cond.get("observedGeneration")) if cond is not None else None
    return observed is not None and observed >= generation


def ready_as_primary(region: str, obj: Mapping[str, Any]) -> bool:
    """The Cluster acts as primary by its live spec, the operator has reconciled that spec,
    it is Ready and has at least one ready instance."""
    half = parse_half(region, obj)
    instances = _int_or_none((obj.get("status") or {}).get("readyInstances")) or 0
    return half.acts_as_primary and half.ready and reconciled(obj) and instances >= 1


class CnpgPair:
    """Both halves of the CNPG pair ``pair`` (label value + namespace), one per region of
    ``regions``, through ``clients``."""

    def __init__(
        self,
        clients: KubeClients,
        *,
        pair: ObjectRef,
        regions: Sequence[str],
        clock: Clock,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        self._clients = clients
        self.pair = pair
        self.regions = tuple(regions)
        self._clock = clock
        self._poll = poll_interval
        self._names: dict[str, str] = {}

    def _delays(self) -> Iterator[float]:
        """The waits between re-reads of one wait loop: ``FIRST_POLL_DELAY`` doubling up to
        the poll interval."""
        delay = min(FIRST_POLL_DELAY, self._poll)
        while True:
            yield delay
            delay = min(delay * 2, self._poll)

    # --- locating and reading ------------------------------------------------------------

    async def locate(self, region: str) -> str:
        """The name of the pair's Cluster in ``region`` (cached)."""
        cached = self._names.get(region)
        if cached is not None:
            return cached
        client = self._clients.for_region(region)
        ns, selector = self.pair.namespace, f"{PAIR_LABEL}={self.pair.name}"
        answer = await client.call(
            client.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            ns,
            PLURAL,
            label_selector=selector,
            what=f"find cnpg pair {ns}/{self.pair.name}",
        )
        names = sorted(str(item["metadata"]["name"]) for item in answer.get("items") or ())
        if not names:
            raise NotFound(
                f"cnpg pair {self.pair.name!r}: no Cluster labelled {selector} in {ns}",
                region=region,
                status=404,
            )
        if len(names) > 1:
            raise Invalid(
                f"cnpg pair {self.pair.name!r}: several Clusters labelled {selector} in {ns}: "
                f"{', '.join(names)}",
                region=region,
            )
        self._names[region] = names[0]
        return names[0]

    async def get_cluster(self, region: str) -> dict[str, Any]:
        """The raw Cluster of ``region`` (re-located once when the cached one is gone)."""
        for attempt in range(2):
            name = await self.locate(region)
            client = self._clients.for_region(region)
            try:
                obj = await client.call(
                    client.custom.get_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.pair.namespace,
                    PLURAL,
                    name,
                    what=f"get cnpg cluster {self.pair.namespace}/{name}",
                )
            except NotFound:
                self._names.pop(region, None)
                if attempt:
                    raise
                continue
            assert isinstance(obj, dict)
            return obj
        raise AssertionError("unreachable")

    async def read_half(self, region: str) -> PairHalf:
        """``region``'s half; an unreadable half comes back with ``error`` set (and
        ``missing`` when the API answered that the Cluster does not exist)."""
        try:
            return parse_half(region, await self.get_cluster(region))
        except KubeError as exc:
            return PairHalf(
                region=region,
                name=self._names.get(region, ""),
                namespace=self.pair.namespace,
                error=str(exc),
                missing=isinstance(exc, NotFound),
            )

    async def read_pair(self) -> PairState:
        """Both halves, read concurrently. Never raises for one region's failure."""
        halves: dict[str, PairHalf] = {}

        async def read(region: str) -> None:
            halves[region] = await self.read_half(region)

        async with anyio.create_task_group() as tg:
            for region in self.regions:
                tg.start_soon(read, region)
        return PairState(halves=tuple(halves[r] for r in self.regions))

    # --- writes --------------------------------------------------------------------------

    async def _patch(self, region: str, body: dict[str, Any], *, what: str) -> dict[str, Any]:
        name = await self.locate(region)
        client = self._clients.for_region(region)
        obj = await client.call(
            client.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.pair.namespace,
            PLURAL,
            name,
            body,
            _content_type=MERGE_PATCH,
            what=f"{what} cnpg cluster {self.pair.namespace}/{name}",
        )
        assert isinstance(obj, dict)
        return obj

    async def probe_writes(self) -> dict[str, Exception]:
        """Region → why a write to its Cluster would be refused (a dry-run merge patch that
        changes nothing: RBAC and admission run, nothing is stored), refusing regions only.
        Never writes; never raises for one region's failure."""
        refused: dict[str, Exception] = {}

        async def probe(region: str) -> None:
            try:
                name = await self.locate(region)
                client = self._clients.for_region(region)
                await client.call(
                    client.custom.patch_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.pair.namespace,
                    PLURAL,
                    name,
                    {"metadata": {}},
                    _content_type=MERGE_PATCH,
                    dry_run="All",
                    what=f"write (dry-run) cnpg cluster {self.pair.namespace}/{name}",
                )
            except KubeError as exc:
                refused[region] = exc

        async with anyio.create_task_group() as tg:
            for region in self.regions:
                tg.start_soon(probe, region)
        return refused

    async def _self_name(self, region: str) -> str:
        half = parse_half(region, await self.get_cluster(region))
        return half.replica_self or half.name

    async def demote(self, region: str, *, new_primary: str) -> str:
        """Point ``region``'s Cluster at ``new_primary``'s Cluster (``spec.replica.primary``)
        and wait for the ``status.demotionToken`` the operator publishes once the old
        primary is shut down as a replica. Returns the token (at once when already demoted
        towards ``new_primary``). A token left over from an earlier demotion is never
        returned for a new one."""
        target = await self._self_name(new_primary)
        obj = await self.get_cluster(region)
        half = parse_half(region, obj)
        if half.replica_primary == target and half.demotion_token:
            return half.demotion_token
        stale = half.demotion_token
        if half.replica_primary != target:
            body = {"spec": {"replica": {"primary": target, "promotionToken": None}}}
            obj = await self._patch(region, body, what="demote")
        delays = self._delays()
        while True:
            half = parse_half(region, obj)
            if half.replica_primary != target:
                raise KubeError(
                    f"demote: spec.replica.primary changed to {half.replica_primary!r} "
                    f"while waiting for the demotion towards {target!r}",
                    region=region,
                )
            if half.demotion_token and half.demotion_token != stale:
                return half.demotion_token
            await self._clock.sleep(next(delays))
            obj = await self.get_cluster(region)

    async def promote(self, region: str, *, token: str) -> None:
        """Set ``spec.replica.primary`` of ``region``'s Cluster to itself with
        ``spec.replica.promotionToken = token`` (``""``: no token, CNPG's failover path).
        Does not wait (see :meth:`wait_ready_as_primary`)."""
        me = await self._self_name(region)
        replica: dict[str, Any] = {"primary": me, "promotionToken": token or None}
        await self._patch(region, {"spec": {"replica": replica}}, what="promote")

    async def fence(self, region: str) -> None:
        """Annotate ``cnpg.io/fencedInstances: ["*"]`` and wait until the operator reports
        no ready instance (PostgreSQL stopped: no write is accepted)."""
        body = {"metadata": {"annotations": {FENCE_ANNOTATION: FENCE_ALL}}}
        obj = await self._patch(region, body, what="fence")
        delays = self._delays()
        while _int_or_none((obj.get("status") or {}).get("readyInstances")) not in (0, None):
            await self._clock.sleep(next(delays))
            obj = await self.get_cluster(region)

    async def unfence(self, region: str) -> None:
        """Remove the fence annotation (absent: no-op). Does not wait."""
        obj = await self.get_cluster(region)
        if FENCE_ANNOTATION not in ((obj.get("metadata") or {}).get("annotations") or {}):
            return
        await self._patch(
            region, {"metadata": {"annotations": {FENCE_ANNOTATION: None}}}, what="unfence"
        )

    async def set_replica_enabled(self, region: str, enabled: bool) -> None:
        """Replica-flip mode: set ``spec.replica.enabled``. Does not wait."""
        await self._patch(
            region, {"spec": {"replica": {"enabled": enabled}}}, what="set replica.enabled on"
        )

    async def wait_ready_as_primary(self, region: str, timeout: float) -> None:
        """Return once :func:`ready_as_primary` holds for ``region``'s Cluster. Raises
        ``TimeoutError`` after ``timeout`` seconds (injected clock), and ``Invalid`` at
        once when the operator refused the promotion (wrong token) for the current spec."""
        deadline = self._clock.monotonic() + timeout
        delays = self._delays()
        while True:
            obj = await self.get_cluster(region)
            if ready_as_primary(region, obj):
                return
            cond = _ready_condition(obj)
            refused = cond is not None and cond.get("reason") == REASON_PROMOTION_REFUSED
            if refused and reconciled(obj):
                assert cond is not None
                raise Invalid(f"promotion refused: {cond.get('message', '')}", region=region)
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"[{region}] cnpg cluster {self.pair.namespace}/{obj['metadata']['name']} "
                    f"not ready as primary within {timeout}s"
                )
            await self._clock.sleep(min(next(delays), remaining))
