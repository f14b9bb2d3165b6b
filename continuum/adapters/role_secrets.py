"""Managed-role password Secrets: a :class:`~continuum.ports.RoleSecrets` over kubernetes-asyncio.

CNPG re-applies a managed role's password when the role's ``passwordSecret`` changes (it
follows the Secret's ``resourceVersion``). Touching the Secret — one annotation, set by a JSON
merge patch, the data never read nor written — is how the controller makes CNPG re-apply the
canonical password after a change of acting primary (integrations.md §1.4). The stamp has
microseconds, so two touches in one second still change the Secret (the reference's
second-precision stamp did not). Each region's Secrets are reached through that region's own
client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from continuum.adapters.kube import KubeClients
from continuum.errors import KubeError, NotFound

__all__ = ["REASSERT_ANNOTATION", "KubeRoleSecrets", "reassert_stamp"]

REASSERT_ANNOTATION: Final = "catalyst.openova.io/dr-role-reassert-at"
MERGE_PATCH: Final = "application/merge-patch+json"


def reassert_stamp(at: datetime) -> str:
    """``at`` as RFC 3339 UTC with microseconds (``2026-01-01T00:00:00.000001Z``)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class KubeRoleSecrets:
    """Touches role Secrets through ``clients`` (one client per region)."""

    def __init__(self, clients: KubeClients) -> None:
        self._clients = clients

    async def touch(
        self, region: str, namespace: str, names: Sequence[str], *, at: datetime
    ) -> list[str]:
        """See :meth:`continuum.ports.RoleSecrets.touch`."""
        client = self._clients.for_region(region)
        body = {"metadata": {"annotations": {REASSERT_ANNOTATION: reassert_stamp(at)}}}
        touched: list[str] = []
        failures: list[KubeError] = []
        for name in names:
            try:
                await client.call(
                    client.core.patch_namespaced_secret,
                    name,
                    namespace,
                    body,
                    _content_type=MERGE_PATCH,
                    what=f"touch role secret {namespace}/{name}",
                )
            except NotFound:
                continue
            except KubeError as exc:
                failures.append(exc)
                continue
            touched.append(name)
        if failures:
            raise failures[0]
        return touched
