"""The CR watch: list + watch ``Continuum`` CRs and turn what it sees into supervisor calls.

Per CR key ``<namespace>/<name>`` (see :mod:`continuum.messages.commands` for the actor's side):

* first sight with a valid spec → ``Supervisor.spawn(key, factory)``; the factory builds the
  actor from the LATEST valid CR, so a supervisor restart never resurrects an old spec;
* a later valid spec (``metadata.generation`` changed, or validity regained) →
  ``tell(SpecObserved)``; status-only changes (the actor's own writes) produce nothing;
* an invalid spec → status ``phase: Failed`` and condition ``SpecValid=False`` whose message
  names the field; no actor is spawned for it, and a running actor is told
  :class:`~continuum.messages.commands.SpecInvalid` and keeps its last valid spec (it keeps
  renewing its lease: an edit with a typo must not cost the region its writer role);
* deletion (``metadata.deletionTimestamp`` set) of a CR carrying the controller's finalizer →
  ``tell(SpecObserved)`` (``tell(DeletionObserved)`` while its spec is invalid), never a stop:
  the actor finishes what is in flight, removes the finalizer and stops itself
  (``actors/continuum/finalizing.py``); a restarted process spawns it again for the same
  purpose. A CR being deleted that can have no actor here (invalid spec, in conflict) has
  its finalizer removed by the watch, unless its status holds an open journal: that waits
  for a fix or the runbook's escape hatch (logged);
* the object gone (``DELETED``), a CR being deleted that no longer carries the finalizer (the
  actor let go of it, or an operator removed it by hand), or a new object (uid) under the same
  key → ``Supervisor.stop(key)`` (a no-op when the actor already stopped itself);
* ownership (:mod:`continuum.core.ownership`): a CR that names a pair, route or hostname an
  earlier CR (creationTimestamp, then uid) already names is in conflict: condition
  ``Conflict=True`` naming the owner, phase ``Failed``, and no actor (a running one is
  stopped). When the owner goes away or stops naming the resource, the CR gets
  ``Conflict=False`` and its actor. Nothing is spawned before every watched namespace has
  been listed, so a restart never lets a later CR act before the earlier one is known.

Resilience: the watch resumes from the last resourceVersion it saw (events and bookmarks);
410 Expired → list again and reconcile the difference (deletions missed meanwhile stop their
actors); a lost connection → back off on the injected clock (doubling, capped) and resume.
Spawning is idempotent, so no path duplicates an actor. :attr:`ContinuumWatch.synced` turns
true once every watched namespace has been listed (readiness).

Sharding (``docs/sharding.md``): with a :class:`~continuum.ports.ShardView`, an actor runs only
for a CR the view says this replica owns; :meth:`ContinuumWatch.rebalance` (called by the view
on every change) stops the actors of CRs no longer owned — before the view publishes that —
and spawns those newly owned. A stop releases nothing: the witness lease stays with the
region and the next owner's actor renews it. Every actor spawned under a shard view runs
with the view's write check bound (:mod:`continuum.write_gate`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup

from continuum import write_gate
from continuum.actors.runtime import Actor, ActorDead, MailboxFull
from continuum.core.ownership import Conflict, Ownership, claimant_of
from continuum.errors import InvalidSpec, KubeError, WatchExpired
from continuum.messages.commands import DeletionObserved, SpecInvalid, SpecObserved
from continuum.messages.crd import FINALIZER, Continuum, decode_continuum, lease_key
from continuum.messages.status import (
    COND_CONFLICT,
    COND_SPEC_VALID,
    Condition,
    ContinuumStatus,
    set_condition,
)
from continuum.ports import Clock, ContinuumSource, Finalizers, ShardView
from continuum.supervisor.conflicts import Conflicts
from continuum.supervisor.supervisor import Supervisor

log = structlog.get_logger("continuum.watch")

REASON_INVALID: Final = "Invalid"
REASON_VALID: Final = "Valid"
REASON_CLAIMED: Final = "ClaimedByAnother"
REASON_NO_CONFLICT: Final = "NoConflict"
SPAWN_SLICE_SECONDS: Final = 0.02
"""How long (CPU time of the loop, ``time.perf_counter``) the watch spawns in one go before
it yields to the event loop. A count of spawns per batch (64, before) made a takeover of
1,700 CRs wait for 27 loop iterations, each as long as the loaded loop's lag (0.3 s and
more): 8 s to spawn what takes 0.1 s of CPU (decision #31)."""


@dataclass
class _Entry:
    """What the watch knows of one CR."""

    namespace: str
    uid: str
    generation: int
    latest: Continuum | None = None
    invalid: tuple[str, str] | None = None
    spawned: bool = False
    conflict: Conflict | None = None
    deleting: bool = False
    deletion_told: bool = False
    """The actor was told of the deletion (``SpecObserved`` or ``DeletionObserved``)."""
    deletion_blocked: bool = False
    """Logged once: a deletion waits on an open journal nobody here can finish."""


@dataclass
class WatchStats:
    """Counters for tests, metrics and benchmarks."""

    lists: int = 0
    relists_after_expiry: int = 0
    reconnects: int = 0
    events: int = 0
    spawned: int = 0
    stopped: int = 0
    shard_stopped: int = 0
    observed: int = 0
    invalid: int = 0
    conflicts: int = 0
    event_settles: int = 0
    """Settle passes a watch event asked for (each over the CRs the event may affect)."""
    full_settles: int = 0
    """Settle passes over every CR (each O(CRs)): after the first full list, a rebalance."""
    errors: list[str] = field(default_factory=list)


class ContinuumWatch:
    """Drives ``supervisor`` from the Continuum CRs of ``namespaces`` (``None``: all).

    ``factory(cr)`` builds the actor of a CR. Run :meth:`run` as a task; it only returns by
    cancellation.
    """

    def __init__(
        self,
        api: ContinuumSource,
        supervisor: Supervisor,
        factory: Callable[[Continuum], Actor],
        *,
        clock: Clock,
        namespaces: Sequence[str] | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        watch_seconds: int = 300,
        check: Callable[[Continuum], None] | None = None,
        conflicts: Conflicts | None = None,
        shard: ShardView | None = None,
        finalizers: Finalizers | None = None,
    ) -> None:
        self._api = api
        self._finalizers = finalizers
        self._shard = shard
        self._placing = anyio.Lock()
        self.conflicts = conflicts if conflicts is not None else Conflicts()
        self._check = check
        self._sup = supervisor
        self._factory = factory
        self._clock = clock
        self._namespaces: list[str | None] = [None] if namespaces is None else list(namespaces)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._watch_seconds = watch_seconds
        self._entries: dict[str, _Entry] = {}
        self._ownership = Ownership()
        self._listed: set[str | None] = set()
        self._synced = anyio.Event()
        self._tg: TaskGroup | None = None
        self.stats = WatchStats()

    @property
    def synced(self) -> bool:
        """True once every watched namespace has been listed and reconciled at least once."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once :attr:`synced` is true."""
        await self._synced.wait()

    def keys(self) -> list[str]:
        """Keys of the CRs currently known (valid or not)."""
        return list(self._entries)

    async def run(self) -> None:
        """List and watch every namespace until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for namespace in self._namespaces:
                tg.start_soon(self._run_namespace, namespace)

    # --- the loop --------------------------------------------------------------------------

    async def _run_namespace(self, namespace: str | None) -> None:
        rv: str | None = None
        backoff = self._backoff_initial
        where = namespace or "<all>"
        while True:
            try:
                if rv is None:
                    listed = await self._api.list_raw(namespace)
                    self.stats.lists += 1
                    await self._resync(namespace, listed.items)
                    rv = listed.resource_version
                    self._listed.add(namespace)
                    if self._all_listed():
                        await self._settle_claims()
                        self._synced.set()
                stream = self._api.watch(
                    namespace=namespace, resource_version=rv, timeout_seconds=self._watch_seconds
                )
                async for event in stream:
                    obj = event.get("object") or {}
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    backoff = self._backoff_initial
                    if event.get("type") != "BOOKMARK":
                        self.stats.events += 1
                        await self._handle(str(event.get("type")), obj)
            except WatchExpired:
                log.info("continuum_watch_expired", namespace=where, resource_version=rv)
                self.stats.relists_after_expiry += 1
                rv = None
            except KubeError as exc:
                self.stats.reconnects += 1
                log.warning(
                    "continuum_watch_lost", namespace=where, error=str(exc), backoff=backoff
                )
                await self._clock.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max)

    async def _resync(self, namespace: str | None, items: list[dict[str, Any]]) -> None:
        """Reconcile with a full list: handle every object, forget those gone."""
        present: set[str] = set()
        for obj in items:
            meta = obj.get("metadata") or {}
            present.add(lease_key(str(meta.get("namespace", "")), str(meta.get("name", ""))))
            await self._handle("ADDED", obj)
        for key, entry in list(self._entries.items()):
            if key not in present and (namespace is None or entry.namespace == namespace):
                await self._forget(key)

    # --- per object ------------------------------------------------------------------------

    async def _handle(self, type_: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        key = lease_key(namespace, name)
        deleting = bool(meta.get("deletionTimestamp"))
        if type_ == "DELETED" or (deleting and FINALIZER not in (meta.get("finalizers") or ())):
            await self._forget(key)
            return
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        entry = self._entries.get(key)
        if entry is not None and entry.uid != uid:
            await self._forget(key)
            entry = None
        # The API server moves the generation on when a deletion begins; a deletion is news
        # to the actor even where it does not.
        changed = (
            entry is None or entry.generation != generation or (deleting and not entry.deleting)
        )
        if entry is None:
            entry = _Entry(namespace=namespace, uid=uid, generation=generation)
            self._entries[key] = entry
        entry.generation = generation
        entry.deleting = deleting
        try:
            cr = decode_continuum(obj)
            if self._check is not None:
                self._check(cr)
        except InvalidSpec as err:
            await self._on_invalid(key, entry, obj, err, changed=changed)
            if deleting:
                await self._deleting(key, entry, obj, valid=False)
            return
        was_invalid = entry.invalid is not None
        entry.latest, entry.invalid = cr, None
        # Claims change only with the spec: the actors' own status writes (most events, and
        # with sharding mostly other replicas' CRs) leave ownership as it is.
        affected = (
            self._ownership.put(claimant_of(cr))
            if changed or key not in self._ownership
            else frozenset()
        )
        spawned_before = entry.spawned
        if (
            affected
            or changed
            or was_invalid
            or (not spawned_before and self._may_spawn(key, entry))
        ):
            self.stats.event_settles += 1
            await self._settle_claims(affected | {key})
        if spawned_before and entry.spawned and (changed or was_invalid):
            self.stats.observed += 1
            entry.deletion_told = deleting
            await self._deliver(key, SpecObserved(continuum=cr))
        if was_invalid:
            await self._write_valid(namespace, name, generation, reset_phase=entry.conflict is None)
        if deleting:
            await self._deleting(key, entry, obj, valid=True)

    async def _deleting(self, key: str, entry: _Entry, obj: dict[str, Any], *, valid: bool) -> None:
        """A CR being deleted that carries the finalizer: make sure whoever can let go of it
        knows (module docstring)."""
        meta = obj.get("metadata") or {}
        if entry.spawned:
            if not valid and not entry.deletion_told and entry.latest is not None:
                # The actor acts on its last valid spec: tell it (and a restarted
                # incarnation, built from ``latest``) of the deletion.
                stamp = entry.latest.metadata.deletion_timestamp or _parse_time(
                    str(meta.get("deletionTimestamp")), self._clock
                )
                latest_meta = msgspec.structs.replace(
                    entry.latest.metadata, deletion_timestamp=stamp
                )
                entry.latest = msgspec.structs.replace(entry.latest, metadata=latest_meta)
                entry.deletion_told = True
                await self._deliver(key, DeletionObserved(deletion_timestamp=stamp))
            return
        if (valid and entry.conflict is None) or not self._owns(key) or self._finalizers is None:
            return  # its actor is (about to be) spawned, here or on another replica
        if ((obj.get("status") or {}).get("switchover")) is not None:
            if not entry.deletion_blocked:
                entry.deletion_blocked = True
                log.warning(
                    "continuum_deletion_blocked",
                    continuum=key,
                    why="an open switchover journal and no actor to finish it "
                    "(invalid spec or conflict); fix the CR, or see docs/runbook.md",
                )
            return
        try:
            await self._finalizers.remove_finalizer(key)
        except KubeError as exc:
            self.stats.errors.append(str(exc))
            log.warning("continuum_finalizer_remove_failed", continuum=key, error=str(exc))
            return
        log.info("continuum_finalizer_removed", continuum=key, why="no actor can run it")

    async def _on_invalid(
        self,
        key: str,
        entry: _Entry,
        obj: dict[str, Any],
        err: InvalidSpec,
        *,
        changed: bool,
    ) -> None:
        verdict = (err.field, str(err))
        if entry.invalid == verdict and not changed:
            return
        entry.invalid = verdict
        self.stats.invalid += 1
        log.warning("continuum_spec_invalid", continuum=key, field=err.field, error=str(err))
        if entry.spawned:
            await self._deliver(key, SpecInvalid(key=key, field=err.field, message=str(err)))
        meta = obj["metadata"]
        if not await self._write_invalid(meta["namespace"], meta["name"], err, entry.generation):
            entry.invalid = None  # not recorded: the next event or relist tries again

    async def _forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.spawned:
            await self._sup.stop(key)
            self.stats.stopped += 1
        affected = self._ownership.remove(key)
        if affected:
            await self._settle_claims(affected)  # what it held may now go to a CR in conflict

    # --- ownership -------------------------------------------------------------------------
    # A Conflict=True left in status (by a previous run, say) is cleared once the conflict is
    # gone, even though this run never saw it: _conflict_recorded.

    def _all_listed(self) -> bool:
        return len(self._listed) == len(self._namespaces)

    def _may_spawn(self, key: str, entry: _Entry) -> bool:
        """A settle pass could spawn this unchanged CR: it is ours and not in conflict (a
        conflict changes only with a spec or a deletion, which settle anyway; a CR another
        replica owns is spawned by :meth:`rebalance` when it becomes ours)."""
        return entry.conflict is None and self._owns(key)

    def _owns(self, key: str) -> bool:
        return self._shard is None or self._shard.owns(key)

    async def rebalance(self) -> None:
        """Converge the running actors to the shard view (``docs/sharding.md``): stop
        (concurrently, each bounded by the supervisor's shutdown timeout) the actors of CRs
        not owned, then spawn those of owned CRs as :meth:`_settle_claims` does. Returns once
        the stops are done. No-op without a view."""
        if self._shard is None:
            return
        async with self._placing:
            lost = [k for k, e in self._entries.items() if e.spawned and not self._owns(k)]
            if lost:
                async with anyio.create_task_group() as tg:
                    for key in lost:
                        self._entries[key].spawned = False
                        tg.start_soon(partial(self._sup.stop, key, handing_over=True))
                self.stats.shard_stopped += len(lost)
                log.info("shard_actors_stopped", count=len(lost))
        await self._settle_claims()

    async def _settle_claims(self, keys: Collection[str] | None = None) -> None:
        # One pass at a time (a pass yields between spawn batches), and never interleaved
        # with a rebalance's stops.
        async with self._placing:
            await self._settle_claims_now(keys)

    async def _settle_claims_now(self, keys: Collection[str] | None) -> None:
        """Bring ``keys`` (None: every CR) in line with ownership (kept by
        :class:`Ownership` over every CR's latest valid spec: a running actor keeps acting
        on it while an edit is invalid): stop the actors of CRs now in conflict, record the
        changes in status, and spawn every CR that has a valid spec, no conflict and no
        actor. Before the first full list: nothing."""
        if not self._all_listed():
            return
        if keys is None:
            self.stats.full_settles += 1
            keys = list(self._entries)
            self.conflicts.replace(
                {k: c for k in keys if (c := self._ownership.get(k)) is not None}
            )
        else:
            for key in keys:
                self.conflicts.put(key, self._ownership.get(key))
        slice_began = time.perf_counter()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            conflict = self._ownership.get(key)
            if conflict != entry.conflict or (conflict is None and _conflict_recorded(entry)):
                await self._on_conflict_change(key, entry, conflict)
            if (
                conflict is None
                and entry.latest is not None
                and not entry.spawned
                and self._entries.get(key) is entry
                and self._owns(key)
            ):
                # The actor starts from this object: its first status write can build on it.
                meta = entry.latest.metadata
                self._api.seed_version(meta.namespace, meta.name, meta.resource_version or "")
                entry.spawned = True
                # The actor's tasks keep the shard's write check for their whole life: a
                # fenced replica's actors write nothing while they wait to be stopped.
                with write_gate.bound(self._shard.write_check() if self._shard else None):
                    await self._sup.spawn(key, self._factory_for(entry))
                self.stats.spawned += 1
                if time.perf_counter() - slice_began >= SPAWN_SLICE_SECONDS:
                    # Let the rest of the loop (the shard membership's rounds above all) run
                    # between slices; a view that changed meanwhile is asked again for every
                    # key that follows.
                    await anyio.lowlevel.checkpoint()
                    slice_began = time.perf_counter()

    async def _on_conflict_change(self, key: str, entry: _Entry, conflict: Conflict | None) -> None:
        assert entry.latest is not None
        meta = entry.latest.metadata
        if conflict is not None:
            self.stats.conflicts += 1
            log.warning(
                "continuum_conflict",
                continuum=key,
                owner=conflict.owner,
                field=conflict.claim.field,
                resource=conflict.claim.resource,
            )
            if entry.spawned:
                entry.spawned = False
                await self._sup.stop(key)
                self.stats.stopped += 1
            entry.conflict = conflict
            if not await self._write_conflict(meta.namespace, meta.name, conflict, entry):
                entry.conflict = None  # not recorded: the next settle tries again
            return
        if entry.conflict is not None or _conflict_recorded(entry):
            log.info("continuum_conflict_cleared", continuum=key)
            await self._write_no_conflict(
                meta.namespace, meta.name, entry.generation, reset_phase=entry.invalid is None
            )
        entry.conflict = None

    def _factory_for(self, entry: _Entry) -> Callable[[], Actor]:
        def build() -> Actor:
            assert entry.latest is not None
            return self._factory(entry.latest)

        return build

    async def _deliver(self, key: str, message: msgspec.Struct) -> None:
        """Hand ``message`` to the key's current actor without letting a full mailbox stall
        the watch (the send then waits in a background task). A dead incarnation is
        skipped: its successor is built from the latest CR."""
        ref = self._sup.registry.get(key)
        if ref is None:
            return
        try:
            ref.tell_nowait(message)
        except ActorDead:
            return
        except MailboxFull:
            assert self._tg is not None

            async def later() -> None:
                with contextlib.suppress(ActorDead):
                    await ref.tell(message)

            self._tg.start_soon(later)

    # --- status writes ---------------------------------------------------------------------

    async def _write_invalid(
        self, namespace: str, name: str, err: InvalidSpec, generation: int
    ) -> bool:
        def mutate(status: ContinuumStatus) -> ContinuumStatus:
            cond = Condition(
                type=COND_SPEC_VALID,
                status="False",
                reason=REASON_INVALID,
                message=str(err),
                observed_generation=generation,
            )
            return msgspec.structs.replace(
                status,
                phase="Failed",
                observed_generation=generation,
                conditions=set_condition(status.conditions, cond, self._clock.now()),
            )

        return await self._update_status(namespace, name, mutate)

    async def _write_conflict(
        self, namespace: str, name: str, conflict: Conflict, entry: _Entry
    ) -> bool:
        generation = entry.generation

        def mutate(status: ContinuumStatus) -> ContinuumStatus:
            cond = Condition(
                type=COND_CONFLICT,
                status="True",
                reason=REASON_CLAIMED,
                message=conflict.message,
                observed_generation=generation,
            )
            return msgspec.structs.replace(
                status,
                phase="Failed",
                observed_generation=generation,
                conditions=set_condition(status.conditions, cond, self._clock.now()),
            )

        return await self._update_status(namespace, name, mutate)

    async def _write_no_conflict(
        self, namespace: str, name: str, generation: int, *, reset_phase: bool
    ) -> bool:
        def mutate(status: ContinuumStatus) -> ContinuumStatus:
            cond = Condition(
                type=COND_CONFLICT,
                status="False",
                reason=REASON_NO_CONFLICT,
                observed_generation=generation,
            )
            phase = "Pending" if reset_phase and status.phase == "Failed" else status.phase
            return msgspec.structs.replace(
                status,
                phase=phase,
                conditions=set_condition(status.conditions, cond, self._clock.now()),
            )

        return await self._update_status(namespace, name, mutate)

    async def _write_valid(
        self, namespace: str, name: str, generation: int, *, reset_phase: bool
    ) -> bool:
        def mutate(status: ContinuumStatus) -> ContinuumStatus:
            cond = Condition(
                type=COND_SPEC_VALID,
                status="True",
                reason=REASON_VALID,
                observed_generation=generation,
            )
            phase = "Pending" if reset_phase and status.phase == "Failed" else status.phase
            return msgspec.structs.replace(
                status,
                phase=phase,
                conditions=set_condition(status.conditions, cond, self._clock.now()),
            )

        return await self._update_status(namespace, name, mutate)

    async def _update_status(
        self, namespace: str, name: str, mutate: Callable[[ContinuumStatus], ContinuumStatus]
    ) -> bool:
        """Best effort; True when the status was written (or needed no change)."""
        try:
            await self._api.update_status(namespace, name, mutate)
        except KubeError as exc:
            # Best effort: the next event of this CR (or the next relist) tries again.
            self.stats.errors.append(str(exc))
            log.warning(
                "continuum_status_write_failed", continuum=f"{namespace}/{name}", error=str(exc)
            )
            return False
        return True


def _parse_time(text: str, clock: Clock) -> datetime:
    """A ``metav1.Time`` (RFC 3339); now when unparseable (the deletion began, that is what
    matters)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return clock.now()


def _conflict_recorded(entry: _Entry) -> bool:
    """The CR's status (as last seen) says ``Conflict=True``."""
    if entry.latest is None:
        return False
    cond = entry.latest.status.condition(COND_CONFLICT)
    return cond is not None and cond.status == "True"
