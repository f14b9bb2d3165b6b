"""The registry: supervisor key (``namespace/name``) → the current incarnation's ActorRef.

Readers (the HTTP layer, metrics) look a key up on every use and never cache the ref: after a
restart the key maps to the new incarnation's ref, and the old ref raises ``ActorDead``.
"""

from __future__ import annotations

from collections.abc import Iterator

from continuum.actors.runtime import ActorRef, ActorStatistics


class Registry:
    """Key → current :class:`ActorRef`, in spawn order. Only the supervisor writes to it.

    While a crashed actor waits out its restart backoff, its key still maps to the dead
    incarnation's ref (``alive`` is False, ``ask`` raises ``ActorDead``): the actor exists
    and is coming back, which callers should tell apart from an unknown key (``None``).
    """

    def __init__(self) -> None:
        self._refs: dict[str, ActorRef] = {}

    def get(self, key: str) -> ActorRef | None:
        """The current ref of ``key``, or ``None`` if no actor runs under that key."""
        return self._refs.get(key)

    def keys(self) -> list[str]:
        """Every key, in spawn order."""
        return list(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, key: object) -> bool:
        return key in self._refs

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._refs))

    def snapshot(self) -> dict[str, ActorStatistics]:
        """Statistics of every actor, by key (for metrics and readiness)."""
        return {key: ref.statistics() for key, ref in self._refs.items()}

    def bind(self, key: str, ref: ActorRef) -> None:
        """Map ``key`` to ``ref`` (a new actor or a new incarnation). Supervisor only."""
        self._refs[key] = ref

    def unbind(self, key: str, ref: ActorRef) -> None:
        """Forget ``key`` if it still maps to ``ref``. Supervisor only."""
        if self._refs.get(key) is ref:
            del self._refs[key]
