"""Drivers for the leader-election suite: candidates running ``leading()`` against the
emulator, each with its own kubernetes-asyncio client (its own connections, as separate pods
would have), and an :class:`Election` that moves fake time and waits (in bounded real time)
for every candidate to finish its round trips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from kubernetes_asyncio import config

from continuum.clock import FakeClock
from continuum.leader.elector import LeaderElector, LeadershipLost
from continuum_sim.kube import KubeEmulator

LEASE = "continuum-controller.openova.io"
NAMESPACE = "openova-system"
SETTLE_TIMEOUT = 5.0


class Candidate:
    """One replica: an elector whose ``leading()`` block waits forever, recording what
    happened (``led`` once inside, ``lost`` when ``LeadershipLost`` was raised)."""

    def __init__(self, elector: LeaderElector, clock: FakeClock) -> None:
        self.elector = elector
        self.clock = clock
        self.scope = anyio.CancelScope()
        self.running = False
        self.led = False
        self.lost: LeadershipLost | None = None
        self.body_cancelled = False

    async def run(self) -> None:
        self.running = True
        try:
            with self.scope:
                async with self.elector.leading():
                    self.led = True
                    try:
                        await anyio.sleep_forever()
                    except anyio.get_cancelled_exc_class():
                        self.body_cancelled = True
                        raise
        except LeadershipLost as exc:
            self.lost = exc
        finally:
            self.running = False

    @property
    def is_leader(self) -> bool:
        return self.elector.is_leader


class Election:
    """Builds candidates against ``kube`` and drives their fake clocks."""

    def __init__(self, kube: KubeEmulator, tmp_path: Path, tg: anyio.abc.TaskGroup) -> None:
        self.kube = kube
        self.kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        self.tg = tg
        self.candidates: list[Candidate] = []
        self._clients: list[Any] = []

    async def elector(self, name: str, clock: FakeClock, **kwargs: Any) -> LeaderElector:
        api = await config.new_client_from_config(config_file=str(self.kubeconfig), context="a")
        self._clients.append(api)
        kwargs.setdefault("lease_duration", 15.0)
        kwargs.setdefault("renew_deadline", 10.0)
        return LeaderElector(
            api, name=LEASE, namespace=NAMESPACE, identity=name, clock=clock, **kwargs
        )

    async def start(self, name: str, clock: FakeClock, **kwargs: Any) -> Candidate:
        """Start a candidate and wait until its first attempt is over."""
        candidate = Candidate(await self.elector(name, clock, **kwargs), clock)
        self.candidates.append(candidate)
        self.tg.start_soon(candidate.run)
        await wait_for(lambda: candidate.running)
        await self.settle()
        return candidate

    async def stop(self, candidate: Candidate) -> None:
        """Cancel a candidate and wait until it has finished (released or not)."""
        candidate.scope.cancel()
        await wait_for(lambda: not candidate.running)
        await self.settle()

    async def settle(self) -> None:
        """Wait until every running candidate is off the network and asleep on its clock."""

        def idle() -> bool:
            for clock in {c.clock for c in self.candidates}:
                on_clock = [c for c in self.candidates if c.clock is clock and c.running]
                if any(c.elector.statistics().in_flight for c in on_clock):
                    return False
                if clock.pending != len(on_clock):
                    return False
            return True

        await wait_for(idle)

    async def advance(self, clock: FakeClock, seconds: float) -> None:
        """Move ``clock`` forward deadline by deadline, settling after each."""
        target = clock.monotonic() + seconds
        await self.settle()
        while (due := clock.next_deadline()) is not None and due <= target:
            clock.advance(max(0.0, due - clock.monotonic()))
            await self.settle()
        clock.advance(target - clock.monotonic())
        await self.settle()

    async def aclose(self) -> None:
        for api in self._clients:
            await api.close()


async def wait_for(condition: Callable[[], bool], timeout: float = SETTLE_TIMEOUT) -> None:
    """Poll ``condition`` in real time (round trips to a real server) up to ``timeout``."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 (state changes on real I/O, not an event)
            await anyio.sleep(0.001)


def lease_spec(kube: KubeEmulator) -> dict[str, Any]:
    """The Lease's spec as stored by the emulator (``{}`` when absent)."""
    obj = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, LEASE)
    return dict(obj["spec"]) if obj is not None else {}
