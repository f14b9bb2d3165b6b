"""Which member owns a key: rendezvous (highest-random-weight) hashing. Pure: no I/O, no
clock, no state beyond the memos of :class:`Assignment` (and which of them are shared).

Every member scores every key with a hash of ``(member, key)``; the key goes to the member
with the highest score (ties, which a 64-bit hash makes vanishingly rare, go to the greater
member id, so the answer never depends on the order members are listed in). Hence:

* deterministic: the same key and member set give the same owner on every replica;
* balanced: each member gets about ``1/n`` of the keys;
* minimal movement: a member joining takes only the keys it now scores highest on (about
  ``1/(n+1)``), and every other key stays where it was; a member leaving moves only its
  own keys.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from typing import ClassVar

__all__ = ["Assignment", "owner", "score"]


def score(member: str, key: str) -> int:
    """The rendezvous weight of ``key`` on ``member`` (a 64-bit integer)."""
    digest = hashlib.blake2b(
        member.encode() + b"\x00" + key.encode(), digest_size=8, person=b"continuum-hrw"
    ).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member that owns ``key`` among ``members`` (``None`` when there are none)."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (score(member, key), member)
        if best is None or candidate > best:
            best = candidate
    return None if best is None else best[1]


class Assignment:
    """Owners of keys under one fixed member set, memoised per key (a rebalance asks about
    every CR several times; a hash per member per key is paid once).

    Build one with :meth:`of`: the same member set then gives the same instance (and memo)
    however often a replica re-reads it (its own view after each renewal, each peer's
    published view after each of theirs)."""

    _interned: ClassVar[dict[frozenset[str], Assignment]] = {}
    _INTERNED_MAX: ClassVar[int] = 16
    _interning: ClassVar[threading.Lock] = threading.Lock()  # the membership has a thread

    @classmethod
    def of(cls, members: Iterable[str]) -> Assignment:
        """The shared assignment of ``members`` (the :data:`_INTERNED_MAX` latest member
        sets are kept; the oldest is dropped first)."""
        key = frozenset(members)
        with cls._interning:
            found = cls._interned.pop(key, None)
            if found is None:
                found = cls(key)
                while len(cls._interned) >= cls._INTERNED_MAX:
                    del cls._interned[next(iter(cls._interned))]
            cls._interned[key] = found  # re-inserted: the latest use is last
            return found

    def __init__(self, members: Iterable[str]) -> None:
        self.members: frozenset[str] = frozenset(members)
        self._ordered = tuple(sorted(self.members))
        self._memo: dict[str, str | None] = {}

    def owner(self, key: str) -> str | None:
        """:func:`owner` of ``key`` under this member set."""
        try:
            return self._memo[key]
        except KeyError:
            found = self._memo[key] = owner(key, self._ordered)
            return found

    def owns(self, member: str, key: str) -> bool:
        """True when ``member`` owns ``key`` under this member set."""
        return member in self.members and self.owner(key) == member
