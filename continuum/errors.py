"""The exceptions that cross module boundaries.

Domain code (``continuum.switchover``) catches these and nothing lower-level: every adapter
maps its library's errors onto this small set, with the region or server in the message.
"""

from __future__ import annotations

from datetime import datetime


class ContinuumError(Exception):
    """Base of every error Continuum raises on purpose."""


# --- witness ---------------------------------------------------------------------------


class WitnessError(ContinuumError):
    """Base of the lease witness errors."""


class LeaseHeldByAnother(WitnessError):
    """The slot is held, unexpired, by another holder. Carries who and until when."""

    def __init__(self, key: str, holder: str, expires_at: datetime | None) -> None:
        self.key = key
        self.holder = holder
        self.expires_at = expires_at
        until = expires_at.isoformat() if expires_at else "unknown"
        super().__init__(f"lease {key!r} is held by {holder!r} until {until}")


class LeaseLost(WitnessError):
    """The caller's lease is no longer current: expired, taken over, or released."""


class WitnessUnavailable(WitnessError):
    """The witness could not decide. Never means "held by another", never means "free"."""


class QuorumUnavailable(WitnessUnavailable):
    """A quorum witness could not reach (or agree with) a majority of its members."""


# --- Kubernetes API ----------------------------------------------------------------------


class WitnessNamespaceMissing(WitnessUnavailable):
    """The namespace a ``k8s-lease`` witness keeps its Lease objects in does not exist: no
    lease can be written there until it is created (never retried as a lost race)."""


class KubeError(ContinuumError):
    """Base of the Kubernetes API errors, always naming the region."""

    def __init__(self, message: str, *, region: str = "", status: int | None = None) -> None:
        self.region = region
        self.status = status
        prefix = f"[{region}] " if region else ""
        super().__init__(prefix + message)


class WatchExpired(KubeError):
    """HTTP 410: the resourceVersion a list or watch asked for is no longer in the server's
    history. The caller must list again."""


class NotFound(KubeError):
    """The object does not exist (HTTP 404)."""


class Conflict(KubeError):
    """Optimistic concurrency failed or the object already exists (HTTP 409)."""


class Invalid(KubeError):
    """The API server rejected the body (HTTP 400/422)."""


class Unavailable(KubeError):
    """The API server could not be reached, timed out, or answered 5xx/429."""


# --- other edges -------------------------------------------------------------------------


class DnsWriteError(ContinuumError):
    """A DNS record write (PDM or PowerDNS API) failed or was rejected."""


class ResolverUnavailable(ContinuumError):
    """A DNS vantage did not answer in time (the probe is unknown, not failed)."""


class AuditUnavailable(ContinuumError):
    """The audit store could not be reached."""


class InvalidSpec(ContinuumError):
    """A Continuum spec failed validation. ``field`` is the JSON path of the culprit."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


# --- switchover ----------------------------------------------------------------------------


class SwitchoverError(ContinuumError):
    """Base of the errors a switchover step raises on purpose."""


class EpochChanged(SwitchoverError):
    """Fencing: the lease generation (or holder) is no longer the one the run acts under, so
    the step refused to act. Nothing was written by the refusing step."""


class PreconditionFailed(SwitchoverError):
    """A step's precondition found a blocker; the step wrote nothing. ``blockers`` are the
    ``step-<n>: …`` strings DryRun would report."""

    def __init__(self, blockers: list[str]) -> None:
        self.blockers = blockers
        super().__init__("; ".join(blockers))


class NoBackendForRegion(ContinuumError):
    """An HTTPRoute has no backend of the region asked for. Never answered by draining every
    backend: a typo in a region name must not take all traffic away."""
