"""What a new spec of the CR changes, and what is announced about it: pure decisions.

* :func:`witness_signature`: what identifies the witness client (its kind and config, not
  the timing); :func:`spec_changed` rebuilds the witness client only when it changed and no
  run is under way (a run writes the lease through the client it started with), and
  restarts the timers only when ``renewSeconds`` changed (every other change leaves the
  renewal and observation cadence alone);
* :func:`drift`: ``continuum-config-changed`` when the switchover-relevant fingerprint
  differs from the one status remembers (none remembered: a first sighting, no drift);
  the fingerprint to remember is always the current one;
* :func:`created`: ``continuum-cr-created`` once per CR uid, remembered in status across
  restarts (``crCreatedAnnounced``).

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

import msgspec

from continuum.messages.crd import Continuum, ContinuumSpec

__all__ = [
    "AnnounceCreated",
    "ConfigChanged",
    "SpecChange",
    "created",
    "drift",
    "spec_changed",
    "witness_signature",
]


def witness_signature(cr: Continuum) -> bytes:
    """What identifies the witness client: kind and config, except the timing (a TTL or
    renew change applies to the same witness). Equal specs give equal bytes."""
    client = cr.spec.lease_client
    config = msgspec.structs.replace(client.config, ttl_seconds=30, renew_seconds=10)
    return msgspec.json.encode((client.kind, config))


class SpecChange(msgspec.Struct, frozen=True, kw_only=True):
    """What a new spec changes in the shell: ``rebuild_witness`` (release the lease held,
    close the old client, open one for the new spec, read the lease again) and
    ``restart_timers`` (renewal and observation at the new cadence)."""

    rebuild_witness: bool = False
    restart_timers: bool = False


def spec_changed(
    *, old: Continuum, new: Continuum, witness_sig: bytes, run_under_way: bool
) -> SpecChange:
    """The change from ``old`` to ``new``: the witness client (whose signature is
    ``witness_sig``) is rebuilt when ``new``'s signature differs and no run is under way
    (a run under way keeps it; the next spec seen after the run rebuilds it); the timers
    restart when ``renewSeconds`` changed."""
    return SpecChange(
        rebuild_witness=witness_signature(new) != witness_sig and not run_under_way,
        restart_timers=(
            new.spec.lease_client.config.renew_seconds != old.spec.lease_client.config.renew_seconds
        ),
    )


def _regions(spec: ContinuumSpec) -> str:
    return (
        f"primaryRegion={spec.primary_region}, hotStandby=[{', '.join(spec.hot_standby_regions)}]"
    )


class ConfigChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Audit ``continuum-config-changed`` (reason ``config-drift``) towards ``to_primary``;
    ``identity`` makes its event id (the same drift, the same id)."""

    previous: str
    current: str
    to_primary: str
    message: str

    @property
    def identity(self) -> tuple[str, str, str]:
        return ("config", self.previous, self.current)


def drift(*, previous: str | None, current: str, spec: ContinuumSpec) -> ConfigChanged | None:
    """The drift from the fingerprint status remembers (``previous``; ``None``: none yet) to
    ``current`` (of ``spec``): :class:`ConfigChanged` when both are known and differ, else
    ``None``. The caller remembers ``current`` either way."""
    if previous is None or previous == current:
        return None
    return ConfigChanged(
        previous=previous,
        current=current,
        to_primary=spec.primary_region,
        message=f"switchover-relevant spec changed: prev={previous} cur={current} "
        f"({_regions(spec)})",
    )


class AnnounceCreated(msgspec.Struct, frozen=True, kw_only=True):
    """Audit ``continuum-cr-created`` (reason ``cr-observed``) for ``uid`` and remember
    ``uid`` in status."""

    uid: str
    to_primary: str
    message: str

    @property
    def identity(self) -> tuple[str, str]:
        return ("created", self.uid)


def created(*, announced: str | None, uid: str, spec: ContinuumSpec) -> AnnounceCreated | None:
    """:class:`AnnounceCreated` unless ``uid`` (the CR's uid, or its key when it has none) is
    the one status remembers as announced (``announced``)."""
    if announced == uid:
        return None
    return AnnounceCreated(
        uid=uid,
        to_primary=spec.primary_region,
        message=f"per-CR actor started; primaryRegion={spec.primary_region} "
        f"hotStandby=[{', '.join(spec.hot_standby_regions)}]",
    )
