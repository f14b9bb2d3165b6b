"""Expected failures a ContinuumActor answers an ``ask`` with (the actor keeps running).

Each maps to exactly one HTTP status in ``continuum.http``; the CLI maps them to exit codes.
"""

from __future__ import annotations

from continuum.actors.mailbox import ReplyError
from continuum.messages.requests import RefusalDetail


class BadRequest(ReplyError):
    """The request is well-formed but makes no sense for this CR (e.g. ``toRegion`` is not a
    region of the CR, or is the acting primary). HTTP 422 whose ``detail`` names ``field``
    (a request path such as ``body.toRegion``, or ``spec.<path>`` for the CR's own field)."""

    def __init__(self, message: str, *, field: str = "body") -> None:
        super().__init__(message)
        self.field = field


class SpecNotValid(ReplyError):
    """The CR's spec is invalid; nothing can be planned until it is fixed. HTTP 409."""


class SwitchoverRefused(ReplyError):
    """A switchover was not started (fingerprint mismatch, blockers, one already running, or
    this instance is not the acting one). HTTP 409 with ``detail``."""

    def __init__(self, detail: RefusalDetail) -> None:
        self.detail = detail
        super().__init__(detail.message)


class NotReady(ReplyError):
    """The actor cannot answer yet (still starting, witness unread). HTTP 503."""
