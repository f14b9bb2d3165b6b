"""Process lifecycle: run a main coroutine until SIGTERM/SIGINT, then shut down cleanly.

Kubernetes sends SIGTERM and waits ``terminationGracePeriodSeconds`` before SIGKILL; the
controller must be gone before that. The first signal cancels the main task group, and
everything below unwinds through ordinary cancellation (supervisor shutdown is shielded and
bounded). A second signal during shutdown is logged and otherwise ignored: the bounded
shutdown is already the fastest safe exit.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable

import anyio

from continuum.logs import get_logger

log = get_logger("continuum.lifecycle")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run_until_signal(
    main: Callable[[], Awaitable[int]],
    *,
    signals: tuple[signal.Signals, ...] = STOP_SIGNALS,
) -> int:
    """Run ``main()`` until it returns or a stop signal arrives; return its exit code.

    On a signal, ``main`` is cancelled and the return value is 0 (a requested stop is a
    clean exit). Exceptions of ``main`` propagate. Must run in the main thread.
    """
    code = 0
    stopping = anyio.Event()

    async def watch_signals(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(*signals) as received:
            async for signum in received:
                if stopping.is_set():
                    log.warning("signal_ignored_during_shutdown", signal=signal.strsignal(signum))
                    continue
                log.info("shutdown_requested", signal=signal.Signals(signum).name)
                stopping.set()
                scope.cancel()

    async with anyio.create_task_group() as outer:
        main_scope = anyio.CancelScope()
        outer.start_soon(watch_signals, main_scope)
        with main_scope:
            code = await main()
        outer.cancel_scope.cancel()
    if stopping.is_set():
        # The receiver is closed: a late second signal must not kill the exiting process.
        for signum in signals:
            signal.signal(signum, signal.SIG_IGN)
        log.info("shutdown_complete")
        return 0
    return code
