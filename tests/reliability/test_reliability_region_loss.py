"""Region loss with auto-failover (issue 13, item 4): the two-writer window, measured.

Region A (the writer) is cut off: its witness connection (a cuttable proxy on A's NATS URL)
and region B's view of A's Kubernetes API (B's kubeconfig reaches A's emulator through a
second cuttable proxy) — A's own instance still reaches its own API, as inside a region that
lost its links. Two variants: A's instance **dead** (SIGKILLed at the cut: nobody in A can
fence) and **alive** (it fences its own Cluster when its renewals lapse, and demotes it
towards B once the witness answers again).

A sampler reads both emulators every 50 ms: a *writer* is a Cluster whose live spec says
primary and that is not fenced (``cnpg.io/fencedInstances``: PostgreSQL stopped). Figures
printed: two-writer samples and window during the cut and after the heal. Asserted: with A's
instance alive, never two writers; in both variants, zero two-writer samples once A is
reachable again and its instance runs, and the run settles on B.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
import yaml

from continuum.adapters.cnpg import is_fenced
from continuum_sim.stack import SimStack
from tests.e2e.conftest import eventually
from tests.reliability.harness import (
    A,
    B,
    CuttableProxy,
    reliability_spec,
    running_controllers,
    wait_settled,
)
from tests.reliability.test_reliability_partition import _route_witness_through

pytestmark = pytest.mark.anyio


@dataclass
class WriterSampler:
    stack: SimStack
    samples: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    def writers(self) -> tuple[str, ...]:
        return tuple(
            r for r in self.stack.acting_primaries() if not is_fenced(self.stack.cluster(r))
        )

    async def run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.writers()))
            await anyio.sleep(0.05)

    def two(self, start: float, end: float = float("inf")) -> list[float]:
        return [t for t, w in self.samples if start <= t < end and len(w) > 1]


def _kubeconfig_via(stack: SimStack, region: str, port: int, path: Path) -> Path:
    """A copy of the stack's kubeconfig whose ``region`` server is ``127.0.0.1:port``."""
    config = yaml.safe_load(stack.kubeconfig.read_text())
    for entry in config["clusters"]:
        if entry["name"] == region:
            entry["cluster"]["server"] = f"http://127.0.0.1:{port}"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.parametrize("instance", ["alive", "dead"])
async def test_region_loss_two_writer_window(tmp_path: Path, instance: str) -> None:
    async with SimStack(tmp_path, spec=reliability_spec(auto_failover=True)) as stack:
        witness_proxy = CuttableProxy("127.0.0.1", stack.nats.port)
        upstream = urlsplit(stack.emulators[A].url)
        api_proxy = CuttableProxy(upstream.hostname or "127.0.0.1", upstream.port or 0)
        sampler = WriterSampler(stack)
        async with anyio.create_task_group() as tg:
            await tg.start(witness_proxy.serve)
            await tg.start(api_proxy.serve)
            _route_witness_through(stack, witness_proxy)
            kubeconfig_b = _kubeconfig_via(stack, A, api_proxy.port, tmp_path / "kubeconfig-b")
            extra = {B: {"CONTINUUM_KUBECONFIG": str(kubeconfig_b)}}
            async with running_controllers(stack, extra=extra) as procs:
                assert await wait_settled(stack, procs) == A
                tg.start_soon(sampler.run)
                if instance == "dead":
                    await procs[A].kill()
                cut_at = time.monotonic()
                witness_proxy.cut()
                api_proxy.cut()
                await eventually(
                    lambda: B in stack.acting_primaries(), timeout=40, what="B promoted"
                )
                took_over = time.monotonic() - cut_at
                await anyio.sleep(2)
                healed_at = time.monotonic()
                api_proxy.heal()
                witness_proxy.heal()
                if instance == "dead":
                    await eventually(
                        lambda: A not in sampler.writers(), timeout=20, what="A demoted by B"
                    )
                    await procs[A].start()
                running_at = time.monotonic()
                holder = await wait_settled(stack, procs, timeout=60)
                settled_at = time.monotonic()
            tg.cancel_scope.cancel()
    during = sampler.two(cut_at, healed_at)
    after_heal = sampler.two(healed_at)
    after_running = sampler.two(running_at)
    window = (max(during + after_heal) - min(during + after_heal)) if during + after_heal else 0.0
    print(
        f"\nregion loss, A's instance {instance}: B promoted {took_over:.2f}s after the cut; "
        f"two-writer samples during the cut={len(during)}, after the heal={len(after_heal)}, "
        f"once A's instance runs={len(after_running)}; two-writer window={window:.2f}s; "
        f"settled {settled_at - healed_at:.2f}s after the heal; samples={len(sampler.samples)}"
    )
    assert holder == B
    assert after_running == []
    if instance == "alive":
        assert during == []
        assert after_heal == []
