"""CNPG operator emulation: plays the CloudNativePG operator's part for the fields Continuum
uses, as an ordinary API client (kubernetes-asyncio over HTTP) of one or more regions.

It watches ``clusters.postgresql.cnpg.io`` in every region it is given and keeps each
Cluster's status as CNPG would: ``phase``, the ``Ready`` condition (with
``observedGeneration``), ``currentPrimary``/``targetPrimary``, ``instances``,
``readyInstances``, ``timelineID`` and, for the distributed topology, ``demotionToken``.

Behaviour (delays on the injected clock):

* **Roles** follow the live spec. Distributed topology: a Cluster whose
  ``spec.replica.primary`` names itself (``spec.replica.self``, else its name) is primary.
  Otherwise ``spec.replica.enabled`` decides (replica-flip mode).
* **Demotion**: a primary whose ``spec.replica.primary`` now names another Cluster becomes a
  replica after ``demotion_delay`` and publishes a fresh ``status.demotionToken``.
* **Promotion**: a replica whose spec makes it primary is promoted after
  ``promotion_delay`` when its ``spec.replica.promotionToken`` is a demotion token published
  by a Cluster of the same pair (label ``catalyst.openova.io/cnpg-pair``; the other half, or
  itself when undoing its own demotion), or empty (CNPG's failover path). A wrong token is
  refused: ``Ready=False``, reason ``PromotionTokenMismatch``, the role is unchanged.
  Promotion starts a new timeline and clears the Cluster's own demotion token.
* **Replica flip**: ``spec.replica.enabled`` true/false demotes/promotes after the delays.
* **Fence**: a non-empty ``cnpg.io/fencedInstances`` annotation stops every instance:
  ``Ready=False`` (reason ``Fenced``), ``readyInstances: 0``.
* **Unreachable** (:meth:`CnpgOperator.set_unreachable`): the region's database is gone:
  ``Ready=False`` (reason ``Unreachable``), no instance ready, no reaction to spec changes
  until it is reachable again.

Two modes. By default the databases are emulated (status fields only: fast unit tests).
Given ``databases`` (:class:`~continuum_sim.pgregions.PgRegions`: one real PostgreSQL per
region), every transition above happens to a real instance: demotion is a clean shutdown and
a restart as a standby of the new primary, and the token carries the real timeline and
shutdown-checkpoint LSN; promotion is ``pg_promote`` once the token's LSN is replayed; a
fenced instance is stopped; an unreachable region's instance is killed (SIGKILL), and when it
is back it rejoins as its spec says (``pg_rewind`` if its history diverged). ``timelineID``
and ``Ready`` are then read from the instances, refreshed every ``refresh_interval``.

Asyncio only (kubernetes-asyncio). The operator does not own the clients it is given.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup

from continuum.adapters.cnpg import (
    GROUP,
    PAIR_LABEL,
    PLURAL,
    REASON_PROMOTION_REFUSED,
    VERSION,
    is_fenced,
    parse_half,
)
from continuum.adapters.kube import KubeClients, RegionClient
from continuum.errors import KubeError, WatchExpired
from continuum.ports import Clock
from continuum_sim.pgregions import PgRegions
from continuum_sim.postgres import PostgresError

log = structlog.get_logger("continuum_sim.cnpg")

HEALTHY: Final = "Cluster in healthy state"
Key = tuple[str, str, str]  # region, namespace, name


@dataclass
class _Cluster:
    """What the operator knows of one Cluster (the database behind it)."""

    obj: dict[str, Any]
    role: str  # "primary" | "replica"
    timeline: int = 1
    token: str = ""
    lsn: str = ""  # real mode: the instance's WAL position when last read
    pending: str = ""  # "promote" | "demote" | ""
    due: float = 0.0
    scheduled: float = -1.0


class CnpgOperator:
    """The emulated operator for every region of ``clients``.

    Use as ``async with CnpgOperator(clients, clock=clock) as op:``; on exit the watches
    stop. ``resync`` (seconds) bounds how long a missed event can go unnoticed.
    """

    def __init__(
        self,
        clients: KubeClients,
        *,
        clock: Clock,
        demotion_delay: float = 1.0,
        promotion_delay: float = 1.0,
        retry_interval: float = 0.5,
        watch_seconds: int = 300,
        databases: PgRegions | None = None,
        refresh_interval: float = 0.5,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self.demotion_delay = demotion_delay
        self.promotion_delay = promotion_delay
        self._retry = retry_interval
        self._watch_seconds = watch_seconds
        self._clusters: dict[Key, _Cluster] = {}
        self._unreachable: set[str] = set()
        self._lock = anyio.Lock()
        self._tg: TaskGroup | None = None
        self._tokens = itertools.count(1)
        self._synced: dict[str, anyio.Event] = {r: anyio.Event() for r in clients.regions}
        self.databases = databases
        self._refresh = refresh_interval

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        for region in self._clients.regions:
            self._tg.start_soon(self._run_region, region)
        if self.databases is not None:
            self._tg.start_soon(self._refresh_forever)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(exc_type, exc, tb)

    async def wait_synced(self) -> None:
        """Return once every region has been listed at least once."""
        for event in self._synced.values():
            await event.wait()

    # --- switches ------------------------------------------------------------------------

    async def set_unreachable(self, region: str, unreachable: bool = True) -> None:
        """Make ``region``'s databases unreachable (or reachable again) and publish it."""
        if unreachable:
            self._unreachable.add(region)
            if self.databases is not None:
                async with self._lock:
                    await self.databases.lose(region)
        else:
            self._unreachable.discard(region)
        for key in [k for k in self._clusters if k[0] == region]:
            await self._reconcile(key)

    def role(self, region: str, namespace: str, name: str) -> str:
        """The role the emulated database has now (``primary``/``replica``; ``""``: unknown)."""
        found = self._clusters.get((region, namespace, name))
        return found.role if found is not None else ""

    # --- watching ------------------------------------------------------------------------

    async def _run_region(self, region: str) -> None:
        client = self._clients.for_region(region)
        while True:
            try:
                rv = await self._relist(region, client)
                self._synced[region].set()
                while True:
                    stream = client.stream(
                        client.custom.list_cluster_custom_object,
                        GROUP,
                        VERSION,
                        PLURAL,
                        what="watch cnpg clusters",
                        timeout_seconds=self._watch_seconds,
                        resource_version=rv,
                        allow_watch_bookmarks=True,
                    )
                    async for event in stream:
                        obj = event["object"]
                        rv = str(obj["metadata"]["resourceVersion"])
                        if event["type"] == "BOOKMARK":
                            continue
                        await self._observe(region, event["type"], obj)
            except WatchExpired:
                continue
            except KubeError as exc:
                log.debug("cnpg_sim_watch_failed", region=region, error=str(exc))
                await self._clock.sleep(self._retry)

    async def _relist(self, region: str, client: RegionClient) -> str:
        answer = await client.call(
            client.custom.list_cluster_custom_object,
            GROUP,
            VERSION,
            PLURAL,
            what="list cnpg clusters",
        )
        seen: set[Key] = set()
        for obj in answer.get("items") or ():
            seen.add(_key(region, obj))
            await self._observe(region, "ADDED", obj)
        for key in [k for k in self._clusters if k[0] == region and k not in seen]:
            del self._clusters[key]
        return str(answer["metadata"]["resourceVersion"])

    async def _observe(self, region: str, type_: str, obj: dict[str, Any]) -> None:
        key = _key(region, obj)
        if type_ == "DELETED":
            self._clusters.pop(key, None)
            return
        known = self._clusters.get(key)
        if known is None:
            half = parse_half(region, obj)
            self._clusters[key] = _Cluster(
                obj=obj,
                role="primary" if half.acts_as_primary else "replica",
                timeline=half.timeline_id or 1,
                token=half.demotion_token,
            )
        else:
            known.obj = obj
        await self._reconcile(key)

    # --- reconciling ---------------------------------------------------------------------

    def _pair_tokens(self, key: Key) -> set[str]:
        """Demotion tokens published by the Clusters of ``key``'s pair (every region)."""
        mine = self._clusters[key]
        group = _pair_of(mine.obj)
        return {
            c.token
            for (_, ns, _), c in self._clusters.items()
            if c.token and ns == key[1] and _pair_of(c.obj) == group
        }

    def _pair_timeline(self, key: Key) -> int:
        group = _pair_of(self._clusters[key].obj)
        return max(
            (
                c.timeline
                for (_, ns, _), c in self._clusters.items()
                if ns == key[1] and _pair_of(c.obj) == group
            ),
            default=1,
        )

    async def _reconcile(self, key: Key) -> None:
        async with self._lock:
            cluster = self._clusters.get(key)
            if cluster is None:
                return
            # the watch may replace cluster.obj while a real step awaits the instance: the
            # status must name the generation the step acted on, not a newer one
            basis = cluster.obj
            try:
                ready, reason, message, phase = await self._step(key, cluster)
            except PostgresError as exc:
                log.warning("cnpg_sim_instance_failed", cluster=key, error=str(exc))
                ready, reason, message, phase = False, "InstanceFailed", str(exc), "Failed"
                assert self._tg is not None
                self._tg.start_soon(self._wake_at, self._clock.monotonic() + self._retry, cluster)
            await self._publish(
                key,
                cluster,
                basis=basis,
                ready=ready,
                reason=reason,
                message=message,
                phase=phase,
            )

    async def _step(self, key: Key, cluster: _Cluster) -> tuple[bool, str, str, str]:
        """Advance ``cluster``'s role as its spec asks; returns (ready, reason, message,
        phase) to publish."""
        region = key[0]
        if region in self._unreachable:
            return False, "Unreachable", "instances cannot be reached", "Unreachable"
        half = parse_half(region, cluster.obj)
        wants_primary = half.acts_as_primary
        now = self._clock.monotonic()
        if wants_primary and cluster.role == "replica":
            token = str(
                ((cluster.obj.get("spec") or {}).get("replica") or {}).get("promotionToken") or ""
            )
            if half.distributed and token and token not in self._pair_tokens(key):
                cluster.pending = ""
                return (
                    False,
                    REASON_PROMOTION_REFUSED,
                    "spec.replica.promotionToken does not match any demotion token of the pair",
                    "Promotion refused",
                )
            if self._due(cluster, "promote", self.promotion_delay, now):
                if self.databases is None:
                    cluster.timeline = self._pair_timeline(key) + 1
                else:
                    after = _token_lsn(token) if token else None
                    promoted = await self.databases.promote(region, after=after)
                    if promoted is None:
                        self._wake_soon(cluster)
                        return False, "Promoting", "waiting for the token's LSN", "Promoting"
                    cluster.timeline = promoted[0]
                cluster.role = "primary"
                cluster.token = ""
                cluster.pending = ""
            else:
                return False, "Promoting", "promotion in progress", "Promoting"
        elif not wants_primary and cluster.role == "primary":
            if self._due(cluster, "demote", self.demotion_delay, now):
                lsn = f"0/{next(self._tokens):08X}"
                if self.databases is not None:
                    checkpoint = await self.databases.demote(region, upstream=self._upstream(key))
                    cluster.timeline, lsn = checkpoint.timeline, checkpoint.lsn
                cluster.role = "replica"
                cluster.pending = ""
                if half.distributed:
                    cluster.token = _token(half.name, cluster.timeline, lsn)
            else:
                return True, "Demoting", "demotion in progress", "Demoting"
        else:
            cluster.pending = ""
        if self.databases is not None:
            return await self._instance_status(key, cluster)
        if is_fenced(cluster.obj):
            return False, "Fenced", "every instance is fenced", "Cluster is fenced"
        role = "primary" if cluster.role == "primary" else "replica (designated primary)"
        return True, "ClusterIsReady", f"cluster is ready as {role}", HEALTHY

    def _due(self, cluster: _Cluster, action: str, delay: float, now: float) -> bool:
        """Whether ``action`` (started now if not pending) has waited ``delay``; schedules a
        reconcile for its due time."""
        if cluster.pending != action:
            cluster.pending = action
            cluster.due = now + delay
        if now >= cluster.due:
            return True
        if cluster.scheduled != cluster.due:
            cluster.scheduled = cluster.due
            assert self._tg is not None
            self._tg.start_soon(self._wake_at, cluster.due, cluster)
        return False

    async def _wake_at(self, due: float, cluster: _Cluster) -> None:
        await self._clock.sleep_until(due)
        for key, known in list(self._clusters.items()):
            if known is cluster:
                await self._reconcile(key)

    def _wake_soon(self, cluster: _Cluster) -> None:
        assert self._tg is not None
        self._tg.start_soon(self._wake_at, self._clock.monotonic() + 0.02, cluster)

    def _upstream(self, key: Key) -> str:
        """The region a replica of ``key``'s pair streams from: the Cluster its spec names as
        primary, else another region of the pair."""
        wanted = str(
            ((self._clusters[key].obj.get("spec") or {}).get("replica") or {}).get("primary") or ""
        )
        group = _pair_of(self._clusters[key].obj)
        others = [
            (k, c) for k, c in self._clusters.items()
            if k[1] == key[1] and k[0] != key[0] and _pair_of(c.obj) == group
        ]  # fmt: skip
        named = [k[0] for k, _ in others if k[2] == wanted]
        primaries = [k[0] for k, c in others if c.role == "primary"]
        return (named or primaries or [k[0] for k, _ in others])[0]

    async def _instance_status(self, key: Key, cluster: _Cluster) -> tuple[bool, str, str, str]:
        """Real mode: bring the instance to what the spec and fence ask, then read it."""
        assert self.databases is not None
        region = key[0]
        instance = self.databases.instance(region)
        if is_fenced(cluster.obj):
            if instance.running:
                await self.databases.fence(region)
            return False, "Fenced", "every instance is fenced", "Cluster is fenced"
        if not instance.running:
            if cluster.role == "primary":
                await self.databases.unfence(region)
            else:
                await self.databases.demote(region, upstream=self._upstream(key))
        state = await self.databases.state(region)
        if not state.ready:
            return False, "InstanceNotReady", "the instance does not answer", "Instance not ready"
        cluster.timeline = state.timeline or cluster.timeline
        cluster.lsn = state.lsn
        role = "primary" if cluster.role == "primary" else "replica (designated primary)"
        return True, "ClusterIsReady", f"cluster is ready as {role}", HEALTHY

    async def _refresh_forever(self) -> None:
        while True:
            await self._clock.sleep(self._refresh)
            for key in list(self._clusters):
                if key[0] not in self._unreachable:
                    await self._reconcile(key)

    async def _publish(
        self,
        key: Key,
        cluster: _Cluster,
        *,
        basis: dict[str, Any],
        ready: bool,
        reason: str,
        message: str,
        phase: str,
    ) -> None:
        """Publish the status of ``basis`` (the object the step acted on)."""
        meta, spec = basis["metadata"], basis.get("spec") or {}
        old = cluster.obj.get("status") or {}
        instances = int(spec.get("instances") or 1)
        status_value = "True" if ready else "False"
        stamp = self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        old_ready = next((c for c in old.get("conditions") or () if c.get("type") == "Ready"), None)
        if old_ready is not None and old_ready.get("status") == status_value:
            stamp = old_ready.get("lastTransitionTime", stamp)
        designated = f"{meta['name']}-1"
        status: dict[str, Any] = {
            "phase": phase,
            "instances": instances,
            "readyInstances": instances if ready else 0,
            "currentPrimary": designated,
            "targetPrimary": designated,
            "timelineID": cluster.timeline,
            "conditions": [
                {
                    "type": "Ready",
                    "status": status_value,
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": stamp,
                    "observedGeneration": int(meta.get("generation") or 1),
                }
            ],
        }
        if cluster.token:
            status["demotionToken"] = cluster.token
        if all(old.get(k) == v for k, v in status.items()) and (
            cluster.token or "demotionToken" not in old
        ):
            return
        patch: dict[str, Any] = {"status": dict(status)}
        if not cluster.token and "demotionToken" in old:
            patch["status"]["demotionToken"] = None
        client = self._clients.for_region(key[0])
        try:
            updated = await client.call(
                client.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                key[1],
                PLURAL,
                key[2],
                patch,
                _content_type="application/merge-patch+json",
                what="publish cnpg cluster status",
            )
        except KubeError as exc:
            log.debug("cnpg_sim_publish_failed", cluster=key, error=str(exc))
            assert self._tg is not None
            self._tg.start_soon(self._wake_at, self._clock.monotonic() + self._retry, cluster)
            return
        cluster.obj = updated


def _key(region: str, obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (region, str(meta.get("namespace", "")), str(meta["name"]))


def _token(name: str, timeline: int, lsn: str) -> str:
    raw = msgspec.json.encode({"cluster": name, "timeline": timeline, "lsn": lsn})
    return base64.b64encode(raw).decode()


def _token_lsn(token: str) -> str | None:
    """The LSN a demotion token carries (``None``: not a token this operator wrote)."""
    try:
        decoded = msgspec.json.decode(base64.b64decode(token))
    except (ValueError, msgspec.DecodeError):
        return None
    lsn = decoded.get("lsn") if isinstance(decoded, dict) else None
    return str(lsn) if isinstance(lsn, str) and "/" in lsn else None


def _pair_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str((meta.get("labels") or {}).get(PAIR_LABEL) or meta.get("name", ""))
