"""Shrinking a failing schedule to a short one that fails the same way (delta debugging:
drop ever smaller chunks of actions while the failure stays)."""

from __future__ import annotations

from collections.abc import Callable

from tests.simulation.schedule import Action

__all__ = ["shrink"]


def shrink(
    schedule: list[Action], fails: Callable[[list[Action]], bool], *, budget: int = 400
) -> list[Action]:
    """The shortest schedule found (within ``budget`` runs) for which ``fails`` still holds;
    ``schedule`` itself when nothing smaller fails. ``fails(schedule)`` must be true."""
    current = list(schedule)
    chunk = max(1, len(current) // 2)
    runs = 0
    while chunk >= 1 and runs < budget:
        start, removed = 0, False
        while start < len(current) and runs < budget:
            candidate = current[:start] + current[start + chunk :]
            runs += 1
            if candidate and fails(candidate):
                current, removed = candidate, True
            else:
                start += chunk
        if not removed:
            chunk //= 2
    return current
