"""The conflicts the CR watch found, for the API to answer about CRs that have no actor.

Only the watch writes it (for every CR a change may affect); readers look a key up on
each use. See :mod:`continuum.core.ownership` for who owns what.
"""

from __future__ import annotations

from collections.abc import Mapping

from continuum.core.ownership import Conflict


class Conflicts:
    """Key (``namespace/name``) → the :class:`Conflict` that keeps that CR from acting."""

    def __init__(self) -> None:
        self._by_key: dict[str, Conflict] = {}

    def get(self, key: str) -> Conflict | None:
        """The conflict of ``key``, or None when it is not in conflict (or unknown)."""
        return self._by_key.get(key)

    def replace(self, conflicts: Mapping[str, Conflict]) -> None:
        """Make ``conflicts`` the current set (the watch's whole view, not a delta)."""
        self._by_key = dict(conflicts)

    def put(self, key: str, conflict: Conflict | None) -> None:
        """Record the conflict of one key (None: it is not in conflict)."""
        if conflict is None:
            self._by_key.pop(key, None)
        else:
            self._by_key[key] = conflict

    def keys(self) -> list[str]:
        """Every key in conflict, sorted."""
        return sorted(self._by_key)
