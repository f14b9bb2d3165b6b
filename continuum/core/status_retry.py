"""When a refused status write is tried again: a pure decision function.

A status write the API refuses (or that times out) leaves the CR saying what it said before —
``Healthy``, say, right after an observation found the world disagreeing with the lease. The
next write would otherwise wait for the next message that flushes status (a renewal tick,
``renewSeconds`` later, or more). The rule:

* a failed write arms a retry after a backoff: :data:`FIRST_RETRY_SECONDS` for the first
  failure in a row, doubling with each further one, never more than ``cap`` (the CR's
  ``renewSeconds``);
* at most one retry is armed: a write failing while one is armed arms nothing (the backoff
  still counts it);
* a write that lands disarms the retry and starts the backoff over;
* the retry firing disarms it; the shell then writes what is still not durable — nothing at
  all when nothing is, so a CR at rest stays at zero writes.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["FIRST_RETRY_SECONDS", "Arm", "Disarm", "Event", "StatusRetry", "backoff", "decide"]

FIRST_RETRY_SECONDS = 0.5
"""The delay of the retry after the first failed write in a row."""

Event = Literal["failed", "landed", "fired"]
"""A status write failed, a status write landed, the armed retry fired."""


class StatusRetry(msgspec.Struct, frozen=True, kw_only=True):
    """``failures``: status writes failed in a row since the last one that landed;
    ``armed``: a retry timer is set."""

    failures: int = 0
    armed: bool = False


class Arm(msgspec.Struct, frozen=True, kw_only=True):
    """Set the retry timer ``delay`` seconds from now."""

    delay: float


class Disarm(msgspec.Struct, frozen=True, kw_only=True):
    """Cancel the retry timer."""


def backoff(failures: int, *, cap: float) -> float:
    """The delay after the ``failures``-th failed write in a row (``failures`` ≥ 1):
    :data:`FIRST_RETRY_SECONDS` doubled ``failures - 1`` times, at most ``cap``."""
    doublings = min(max(failures - 1, 0), 32)  # 0.5 s · 2**32 is past any cap
    return min(FIRST_RETRY_SECONDS * 2.0**doublings, cap)


def decide(
    state: StatusRetry, event: Event, *, cap: float
) -> tuple[StatusRetry, Arm | Disarm | None]:
    """The next state and what to do with the retry timer (see the module docstring)."""
    if event == "failed":
        failures = state.failures + 1
        if state.armed:
            return StatusRetry(failures=failures, armed=True), None
        return StatusRetry(failures=failures, armed=True), Arm(delay=backoff(failures, cap=cap))
    if event == "landed":
        return StatusRetry(), Disarm() if state.armed else None
    return msgspec.structs.replace(state, armed=False), None
