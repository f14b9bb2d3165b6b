"""Standalone emulator: ``continuum sim kube --port N`` calls :func:`serve`.

Prints the URL and the path of a kubeconfig pointing at it, then serves until SIGINT or
SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from continuum.clock import SystemClock
from continuum.heap import tending_heap
from continuum_sim.kube.emulator import KubeEmulator, bundled_crd_paths


async def serve_async(
    host: str = "127.0.0.1",
    port: int = 0,
    crd_paths: Iterable[Path | str] | None = None,
    *,
    kubeconfig: Path | str | None = None,
    token: str | None = None,
    region: str = "emulator",
    stop: asyncio.Event | None = None,
) -> None:
    """Run one emulator until ``stop`` is set or the process gets SIGINT/SIGTERM.
    ``crd_paths=None`` loads :func:`bundled_crd_paths`.

    The heap is tended as the controller's is (:func:`continuum.heap.tending_heap`): the
    store keeps every object and its recent history (tens of objects per CR, hundreds of
    thousands at 5,000 CRs), and without freezing, the collector's full passes over them
    stopped the emulator's loop for up to 0.9 s while replicas started up."""
    paths = bundled_crd_paths() if crd_paths is None else list(crd_paths)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            tending_heap(SystemClock()),
            KubeEmulator(region=region, host=host, port=port, crd_paths=paths, token=token) as kube,
        ):
            if kubeconfig is None:
                kubeconfig = Path(tempfile.mkdtemp(prefix="continuum-kube-")) / "kubeconfig"
            written = kube.write_kubeconfig(kubeconfig)
            print(f"Kubernetes API emulator listening on {kube.url}", flush=True)
            print(f"kubeconfig: {written}", flush=True)
            print(f"try: KUBECONFIG={written} kubectl api-resources", flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    crd_paths: Iterable[Path | str] | None = None,
    *,
    kubeconfig: Path | str | None = None,
    token: str | None = None,
) -> int:
    """Blocking entry point for the CLI; returns the process exit code (0 on a signal)."""
    asyncio.run(serve_async(host, port, crd_paths, kubeconfig=kubeconfig, token=token))
    return 0


if __name__ == "__main__":
    port_arg = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sys.exit(serve(port=port_arg))
