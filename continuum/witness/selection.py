"""Which witness backends this process may open, decided without I/O: the process-level
settings of the witness factory (:class:`WitnessSettings`) and :func:`check_witness_config`,
which the factory (``continuum.wiring.witness.open_witness``) runs before opening and the
watch runs at a CR's first observation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from continuum.errors import InvalidSpec
from continuum.ports import Clock
from continuum.witness.memory import MemoryStore

__all__ = [
    "KINDS",
    "SecretReader",
    "WitnessSettings",
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
class WitnessSettings:
    """Process-level inputs of the factory (from ``continuum.config`` / the environment)."""

    clock: Clock
    """Decides expiry for every client-side backend (FakeClock in tests)."""
    allow_in_memory: bool = False
    """``WITNESS_IN_MEMORY=true``: the in-memory witness is test/demo only."""
    memory_store: MemoryStore | None = None
    """Store for ``in-memory`` (default: :func:`shared_memory_store`)."""
    nats_url: str | None = None
    """``CONTINUUM_NATS_URL``: default for ``nats-kv`` when ``config.url`` is absent."""
    kubeconfig: str | None = None
    """Kubeconfig holding the ``k8s-lease`` cluster's context (``config.context``)."""
    lease_namespace: str = "continuum-system"
    """Namespace for ``k8s-lease`` when ``config.namespace`` is absent."""
    secret_reader: SecretReader | None = None
    """Reads ``tokenSecretRef`` / ``apiKeySecretRef`` from the CR's namespace."""
    skew_margin: float = 1.0
    """Seconds a taker waits past a stored expiry written by another clock (the two clocks
    may disagree by up to this much)."""
    timeout: float = 5.0
    """Per-request bound for network backends."""


def check_witness_config(kind: str, config: Mapping[str, Any], settings: WitnessSettings) -> None:
    """The checks of :func:`open_witness` that need no I/O: whether this process can serve
    ``kind`` with ``config`` at all. Raises :class:`~continuum.errors.InvalidSpec` naming the
    field; never connects. The controller runs it at a CR's first observation, so a CR it
    can never serve is ``Failed`` naming the field instead of retrying forever."""
    if kind == "in-memory" and not settings.allow_in_memory:
        raise InvalidSpec(
            "spec.leaseClient.kind", "in-memory selector is test-only; refused in production"
        )
    if kind == "nats-kv" and not (config.get("url") or settings.nats_url):
        raise InvalidSpec(f"{_FIELD}.url", "required for kind nats-kv (or CONTINUUM_NATS_URL)")
    if kind == "k8s-lease" and not (config.get("kubeconfig") or settings.kubeconfig):
        raise InvalidSpec(f"{_FIELD}.context", "k8s-lease needs a kubeconfig with the context")
    if kind not in KINDS:
        raise InvalidSpec("spec.leaseClient.kind", f"not implemented: {kind}")
