"""Measurement probe for ``bench/shard.py --probe`` (never imported by the product).

Python imports ``sitecustomize`` at start-up when it is on ``sys.path``; the bench puts this
directory on the ``PYTHONPATH`` of the emulator and of every replica and sets
``BENCH_PROBE_DIR``. Each process then appends JSON lines to
``$BENCH_PROBE_DIR/probe-<pid>.jsonl``:

* ``lag``: the event loop's lag, seen from a thread that every 50 ms schedules a callback
  with ``call_soon_threadsafe`` and times how long the loop takes to run it (recorded when
  ≥ 0.25 s: the loop was busy, blocked, or far behind on ready callbacks);
* ``gc``: a garbage collection that took ≥ 0.05 s (generation, seconds);
* ``member``: a replica's membership request (``replace`` or ``list`` of
  ``continuum.leader.member_leases.MemberLeases``): its duration on the replica's loop;
* ``serve``: the emulator's handling time of a request for Leases (from the handler's
  start to its response, without the time the request waited for the loop).

Without ``BENCH_PROBE_DIR`` it does nothing.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from typing import Any

_DIR = os.environ.get("BENCH_PROBE_DIR")


def _install() -> None:
    assert _DIR is not None
    path = os.path.join(_DIR, f"probe-{os.getpid()}.jsonl")
    out = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    lock = threading.Lock()

    def record(kind: str, **fields: Any) -> None:
        with lock:
            out.write(json.dumps({"t": time.time(), "kind": kind, "pid": os.getpid(), **fields}))
            out.write("\n")

    record("start", argv=sys.argv)

    # --- loop lag ---------------------------------------------------------------------
    original = asyncio.BaseEventLoop.run_forever

    def run_forever(self: asyncio.BaseEventLoop) -> None:
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.05):
                ran = threading.Event()
                sent = time.monotonic()
                try:
                    self.call_soon_threadsafe(ran.set)
                except RuntimeError:
                    return
                while not ran.wait(1.0):
                    if stop.is_set():
                        return
                lag = time.monotonic() - sent
                if lag >= 0.25:
                    record("lag", seconds=round(lag, 3))

        threading.Thread(target=watch, name="bench-probe-lag", daemon=True).start()
        try:
            original(self)
        finally:
            stop.set()

    asyncio.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]

    # --- gc ---------------------------------------------------------------------------
    started: dict[int, float] = {}

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.monotonic()
        elif 0 in started:
            took = time.monotonic() - started.pop(0)
            if took >= 0.05:
                record("gc", generation=info.get("generation"), seconds=round(took, 3))

    gc.callbacks.append(timed)

    # --- requests (patched once the modules exist) -----------------------------------
    import importlib.abc
    import importlib.machinery

    def patch_member(module: Any) -> None:
        cls = module.MemberLeases
        for name in ("replace", "list"):
            fn = getattr(cls, name)

            def wrap(fn: Any = fn, name: str = name) -> Any:
                async def timed_call(self: Any, *args: Any, **kwargs: Any) -> Any:
                    t0 = time.monotonic()
                    try:
                        return await fn(self, *args, **kwargs)
                    finally:
                        record("member", op=name, seconds=round(time.monotonic() - t0, 3))

                return timed_call

            setattr(cls, name, wrap())

    def patch_server(module: Any) -> None:
        cls = module.ApiServer
        fn = cls.handle

        async def handle(self: Any, request: Any) -> Any:
            if "/leases" not in request.path:
                return await fn(self, request)
            t0 = time.monotonic()
            try:
                return await fn(self, request)
            finally:
                record(
                    "serve",
                    method=request.method,
                    seconds=round(time.monotonic() - t0, 4),
                )

        cls.handle = handle

    patches = {
        "continuum.leader.member_leases": patch_member,
        "continuum_sim.kube.server": patch_server,
    }

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            if fullname not in patches:
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            exec_module = loader.exec_module  # type: ignore[attr-defined]

            def run(module: Any) -> None:
                exec_module(module)
                patches[fullname](module)

            loader.exec_module = run  # type: ignore[attr-defined]
            return spec

    sys.meta_path.insert(0, Finder())


if _DIR:
    _install()
