"""Which witness backends this process may open, decided without I/O: the process-level
options of the witness factory (:class:`WitnessOptions`) and :func:`check_witness_config`,
which the factory (``continuum.wiring.witness.open_witness``) runs before opening and the
watch runs at a CR's first observation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from continuum.config import Settings
from continuum.errors import InvalidSpec
from continuum.witness.memory import MemoryStore

__all__ = [
    "KINDS",
    "SecretReader",
    "WitnessOptions",
    "check_witness_config",
    "shared_memory_store",
]

KINDS: Final = ("in-memory", "k8s-lease", "nats-kv", "cloudflare-kv", "dns-quorum")

SecretReader = Callable[[str, str, str], Awaitable[str]]
"""``await read(namespace, name, key)`` → the secret value; raises on a missing Secret/key."""

_FIELD = "spec.leaseClient.config"
_SHARED_MEMORY = MemoryStore()


def shared_memory_store() -> MemoryStore:
    """The process-wide store every ``in-memory`` witness uses unless settings give one."""
    return _SHARED_MEMORY


@dataclass(frozen=True, kw_only=True)
class WitnessOptions:
    """The values the witness factory takes from the process's configuration (no clients:
    the clock, the Secret reader and the in-memory store are passed to the factory)."""

    allow_in_memory: bool = False
    """``CONTINUUM_WITNESS_IN_MEMORY``: the in-memory witness is test/demo only."""
    nats_url: str | None = None
    """``CONTINUUM_NATS_URL``: default for ``nats-kv`` when ``config.url`` is absent."""
    kubeconfig: str | None = None
    """Kubeconfig holding the ``k8s-lease`` cluster's context (``config.context``)."""
    lease_namespace: str = "continuum-system"
    """Namespace for ``k8s-lease`` when ``config.namespace`` is absent."""
    skew_margin: float = 1.0
    """Seconds a taker waits past a stored expiry written by another clock (the two clocks
    may disagree by up to this much)."""
    timeout: float = 5.0
    """Per-request bound for network backends."""

    @classmethod
    def from_settings(cls, settings: Settings, *, own_namespace: str) -> WitnessOptions:
        """The options ``settings`` declare; ``k8s-lease`` Leases default to
        ``CONTINUUM_WITNESS_LEASE_NAMESPACE``, else ``own_namespace`` (the controller's)."""
        return cls(
            allow_in_memory=settings.witness_in_memory,
            nats_url=settings.nats_url or None,
            kubeconfig=settings.kubeconfig or None,
            lease_namespace=settings.witness_lease_namespace or own_namespace,
        )


def check_witness_config(kind: str, config: Mapping[str, Any], options: WitnessOptions) -> None:
    """The checks of :func:`open_witness` that need no I/O: whether this process can serve
    ``kind`` with ``config`` at all. Raises :class:`~continuum.errors.InvalidSpec` naming the
    field; never connects. The controller runs it at a CR's first observation, so a CR it
    can never serve is ``Failed`` naming the field instead of retrying forever."""
    if kind == "in-memory" and not options.allow_in_memory:
        raise InvalidSpec(
            "spec.leaseClient.kind", "in-memory selector is test-only; refused in production"
        )
    if kind == "nats-kv" and not (config.get("url") or options.nats_url):
        raise InvalidSpec(f"{_FIELD}.url", "required for kind nats-kv (or CONTINUUM_NATS_URL)")
    if kind == "k8s-lease" and not (config.get("kubeconfig") or options.kubeconfig):
        raise InvalidSpec(f"{_FIELD}.context", "k8s-lease needs a kubeconfig with the context")
    if kind not in KINDS:
        raise InvalidSpec("spec.leaseClient.kind", f"not implemented: {kind}")
