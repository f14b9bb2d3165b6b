"""Commands the CR watch sends to a ContinuumActor (``continuum.supervisor.watch``).

The contract, per CR key ``<namespace>/<name>``:

* the actor is spawned (its factory gets the latest valid :class:`Continuum`) the first time
  the CR is seen with a valid spec, and re-created by the supervisor from the latest valid
  CR after a crash;
* :class:`SpecObserved` follows every later change of the spec (``metadata.generation``)
  that is valid, and the return to validity after :class:`SpecInvalid`; status-only writes
  (the actor's own) never produce one;
* :class:`SpecInvalid` says the CR's current spec is invalid: the actor keeps acting on the
  last valid spec it has (it keeps renewing its lease) until the next ``SpecObserved`` or
  its stop;
* :class:`DeletionObserved` says the CR is being deleted while its spec is invalid (a valid
  one arrives as ``SpecObserved`` with ``metadata.deletionTimestamp`` set): the actor
  finishes what is in flight, removes its finalizer and stops itself;
* the actor is stopped (graceful ``Supervisor.stop``) when the CR is gone, no longer carries
  the finalizer while being deleted, or is replaced by a new object (new uid) under the same
  key. :class:`Stop` is the message form of that
  request for actors that want to run their own shutdown (release the lease if still held).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from continuum.messages.crd import Continuum


class SpecObserved(msgspec.Struct, frozen=True, kw_only=True):
    """The CR as now stored, with a valid spec."""

    continuum: Continuum


class SpecInvalid(msgspec.Struct, frozen=True, kw_only=True):
    """The CR's spec is invalid: ``field`` is the JSON path of the culprit
    (``spec.leaseClient.config.ttlSeconds``), ``message`` says why."""

    key: str
    field: str
    message: str


class DeletionObserved(msgspec.Struct, frozen=True, kw_only=True):
    """The CR is being deleted (since ``deletion_timestamp``); its current spec is invalid,
    so no ``SpecObserved`` carries the news."""

    deletion_timestamp: datetime


class Stop(msgspec.Struct, frozen=True, kw_only=True):
    """Stop acting for this CR (release the lease only if still held as self)."""


__all__ = ["DeletionObserved", "SpecInvalid", "SpecObserved", "Stop"]
