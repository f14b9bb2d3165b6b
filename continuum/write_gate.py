"""The write gate: whether the running task may write to the world *now*.

A sharded replica (``docs/sharding.md``) runs a CR's actor only while its membership is
current. Rule 3 there fences a replica that missed its renew deadline and stops its actors;
stopping thousands of them takes seconds, longer than the margin before a peer may start
the same CRs. The gate closes that window: the CR watch binds its shard's
:meth:`~continuum.ports.ShardView.write_check` to every actor it spawns (a context
variable, inherited by every task the actor starts), and each adapter that writes to the
world asks :func:`refusal` at the moment of the write, before any byte is sent. A fenced
replica's actors therefore write nothing from the instant its renew deadline passes, however
long their stops take, and never again once fenced (the check belongs to the membership
term the actor was started in).

Gated: the witness's compare-and-set writes, writes to Kubernetes objects (the CR's status
and finalizer, the CNPG Clusters, the HTTPRoutes, the role Secrets) and DNS commits. Not
gated: reads, and the audit trail's own records (an event accepted before the fence still
reaches the stream; it is idempotent by ``eventId``). A task with nothing bound (the
membership, the HTTP API, the leader-elected mode, every test that binds nothing) is never
refused.

A write already sent when the deadline passes is not recalled: it may still land within
its request timeout, as with any lease-based leadership.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["WriteCheck", "bound", "check", "current", "refusal"]

WriteCheck = Callable[[], "str | None"]
"""Answers ``None`` while writes are allowed, else why not (e.g. ``"fenced"``)."""

_check: ContextVar[WriteCheck | None] = ContextVar("continuum_write_check", default=None)


def refusal() -> str | None:
    """Why the current task may not write now, or ``None`` when it may (nothing bound, or
    the bound check allows it). Cheap and synchronous: call it right before each write."""
    check = _check.get()
    return None if check is None else check()


def check(error: Callable[[str], BaseException]) -> None:
    """Raise ``error(reason)`` when the current task may not write now; return otherwise.
    What an adapter calls right before it sends a write."""
    reason = refusal()
    if reason is not None:
        raise error(reason)


def current() -> WriteCheck | None:
    """The check bound to the current task, if any."""
    return _check.get()


@contextmanager
def bound(check: WriteCheck | None) -> Iterator[None]:
    """Bind ``check`` for the block; tasks created inside it (and theirs) keep it for their
    whole life. ``None`` binds nothing (the enclosing binding stays)."""
    if check is None:
        yield
        return
    token = _check.set(check)
    try:
        yield
    finally:
        _check.reset(token)
