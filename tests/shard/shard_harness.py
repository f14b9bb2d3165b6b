"""Replicas sharing keys through :class:`Membership` against the emulator, each with its own
kubernetes-asyncio client (as separate pods would have), one fake clock for all. Each
replica's follower plays the CR watch: it stops keys it no longer owns and starts the ones it
owns, and every start is checked against every other replica's running set (a key running on
two replicas at once is recorded in :attr:`Cluster.doubles`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from kubernetes_asyncio import config

from continuum.clock import FakeClock
from continuum.leader.membership import Membership
from continuum.leader.request_lane import RequestLane
from continuum_sim.kube import KubeEmulator

GROUP = "continuum-controller.openova.io"
NAMESPACE = "openova-system"
SETTLE_TIMEOUT = 10.0
KEYS = tuple(f"ns-{n % 3}/cr-{n:04d}" for n in range(300))


class Replica:
    def __init__(self, cluster: Cluster, member: Membership) -> None:
        self.cluster = cluster
        self.member = member
        self.running: set[str] = set()
        self.scope = anyio.CancelScope()
        self.alive = False
        self.moves: list[tuple[float, str, str]] = []  # (time, "start"|"stop", key)
        self.blocked: anyio.Event | None = None
        """While set (and not yet set()), a rebalance waits for it: actors slow to stop."""
        self.rebalances = 0

    async def rebalance(self) -> None:
        self.rebalances += 1
        if self.blocked is not None:
            await self.blocked.wait()
        now = self.member._clock.monotonic()  # the fake clock all replicas share
        for key in sorted(self.running):
            if not self.member.owns(key):
                self.running.discard(key)
                self.moves.append((now, "stop", key))
        for key in KEYS:
            if key not in self.running and self.member.owns(key):
                for other in self.cluster.replicas:
                    if other is not self and key in other.running:
                        self.cluster.doubles.append((key, self.member.identity))
                self.running.add(key)
                self.moves.append((now, "start", key))

    @property
    def stalled(self) -> bool:
        """Its rebalance waits on :attr:`blocked`."""
        return self.blocked is not None and not self.blocked.is_set()

    async def run(self) -> None:
        self.alive = True
        self.member.follow(self.rebalance)
        try:
            with self.scope:
                async with self.member.joined():
                    await anyio.sleep_forever()
        finally:
            self.alive = False


class Cluster:
    """``lanes``: each replica's Lease requests run on a :class:`RequestLane` of its own (a
    thread and loop), as ``continuum run`` does; otherwise on the test's loop."""

    def __init__(
        self, kube: KubeEmulator, tmp_path: Path, tg: anyio.abc.TaskGroup, *, lanes: bool = False
    ) -> None:
        self.kube = kube
        self.lanes = lanes
        self._lanes = contextlib.AsyncExitStack()
        self.kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        self.tg = tg
        self.clock = FakeClock()
        self.replicas: list[Replica] = []
        self.doubles: list[tuple[str, str]] = []
        self._clients: list[Any] = []

    async def start(self, identity: str, **kwargs: Any) -> Replica:
        api = await config.new_client_from_config(config_file=str(self.kubeconfig), context="a")
        self._clients.append(api)
        kwargs.setdefault("lease_duration", 15.0)
        kwargs.setdefault("renew_deadline", 10.0)
        if self.lanes:
            lane = RequestLane(api.configuration, name=f"lane-{identity}")
            kwargs["lane"] = await self._lanes.enter_async_context(lane)
        member = Membership(
            api, group=GROUP, namespace=NAMESPACE, identity=identity, clock=self.clock, **kwargs
        )
        replica = Replica(self, member)
        self.replicas.append(replica)
        self.tg.start_soon(replica.run)
        await wait_for(lambda: replica.alive)
        await self.settle()
        return replica

    async def stop(self, replica: Replica) -> None:
        """A clean stop: its keys stop, then its Lease is deleted."""
        replica.running.clear()
        replica.scope.cancel()
        await wait_for(lambda: not replica.alive)
        self.replicas.remove(replica)
        await self.settle()

    async def kill(self, replica: Replica) -> None:
        """A crash: its keys die with it and its Lease stays (the delete fails)."""
        self.kube.faults.fail(method="DELETE", resource="leases", status=500, count=1)
        await self.stop(replica)

    async def settle(self) -> None:
        """Wait until every replica is off the network and asleep on the clock.

        Each live replica's round loop must say it sleeps and nothing woke it (``asleep``):
        counting sleepers alone is fooled by a loop that ``_wake`` has just cancelled, whose
        sleeper stays on the clock until the loop runs again, so the test went on while the
        round publishing a hand-over was about to start."""

        def idle() -> bool:
            alive = [r for r in self.replicas if r.alive]
            for r in alive:
                stats = r.member.statistics()
                if stats.in_flight or not stats.asleep or (stats.following and not r.stalled):
                    return False
            return self.clock.pending == len(alive)

        await wait_for(idle)

    async def advance(self, seconds: float) -> None:
        """Move the clock forward deadline by deadline, settling after each."""
        target = self.clock.monotonic() + seconds
        await self.settle()
        while (due := self.clock.next_deadline()) is not None and due <= target:
            self.clock.advance(max(0.0, due - self.clock.monotonic()))
            await self.settle()
        self.clock.advance(target - self.clock.monotonic())
        await self.settle()

    def owners(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for replica in self.replicas:
            for key in replica.running:
                found.setdefault(key, []).append(replica.member.identity)
        return found

    async def aclose(self) -> None:
        await self._lanes.aclose()
        for api in self._clients:
            await api.close()


async def wait_for(condition: Callable[[], bool], timeout: float = SETTLE_TIMEOUT) -> None:
    """Poll ``condition`` in real time (round trips to a real server) up to ``timeout``."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 (state changes on real I/O, not an event)
            await anyio.sleep(0.001)
