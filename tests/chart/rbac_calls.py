"""The one list of every Kubernetes API call the controller makes, and the checks around it.

Only the standard library is imported here, so any suite can use it: the chart suite checks
that the chart grants exactly ``CONTROLLER_API_CALLS``; an end-to-end suite that records the
(verb, group, resource) of every request the controller sent to the emulated API servers
passes them to ``assert_calls_are_expected`` (``from tests.chart.rbac_calls import ...``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Call = tuple[str, str, str]  # (verb, API group ("" = core), resource or resource/subresource)

CONTROLLER_API_CALLS: frozenset[Call] = frozenset(
    {
        # The Continuum resources: list + watch (with resume), read, clear the request flag,
        # add and remove the controller's finalizer (merge patches of the CR itself).
        ("get", "dr.openova.io", "continuums"),
        ("list", "dr.openova.io", "continuums"),
        ("watch", "dr.openova.io", "continuums"),
        ("patch", "dr.openova.io", "continuums"),
        # Status and the crash-safe switchover journal (merge patches on /status; the CR
        # itself is read, never /status).
        ("patch", "dr.openova.io", "continuums/status"),
        # The CNPG pair: live roles (polled, never watched), fence, demote/promote handshake.
        ("get", "postgresql.cnpg.io", "clusters"),
        ("list", "postgresql.cnpg.io", "clusters"),
        ("patch", "postgresql.cnpg.io", "clusters"),
        # HTTPRoute drain and re-weighting.
        ("get", "gateway.networking.k8s.io", "httproutes"),
        ("patch", "gateway.networking.k8s.io", "httproutes"),
        # Leader election and the k8s-lease witness.
        ("get", "coordination.k8s.io", "leases"),
        ("create", "coordination.k8s.io", "leases"),
        ("update", "coordination.k8s.io", "leases"),
        # Sharding (replicas > 1): the replicas' membership Leases, listed by label, and a
        # replica's own deleted on a clean exit.
        ("list", "coordination.k8s.io", "leases"),
        ("delete", "coordination.k8s.io", "leases"),
        # Witness credentials (Cloudflare Worker token, ...).
        ("get", "", "secrets"),
        # Managed-role passwordSecrets of the acting primary's Cluster: one annotation after a
        # change of acting primary, so CNPG re-applies the passwords.
        ("patch", "", "secrets"),
        # The durable audit outbox: one ConfigMap per pending batch, in the release namespace.
        ("list", "", "configmaps"),
        ("create", "", "configmaps"),
        ("delete", "", "configmaps"),
        ("deletecollection", "", "configmaps"),
    }
)


def grants(objects: Iterable[dict[str, Any]]) -> set[Call]:
    """Every (verb, group, resource) the rendered Roles and ClusterRoles grant."""
    granted: set[Call] = set()
    for obj in objects:
        if obj["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in obj.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule["verbs"]:
                        granted.add((verb, group, resource))
    return granted


def assert_calls_are_expected(recorded: Iterable[Call]) -> None:
    """Fail naming every recorded call that ``CONTROLLER_API_CALLS`` (hence the chart) lacks.

    For the end-to-end suites: feed it the (verb, group, resource) of every request the
    controller sent to the emulated API servers.
    """
    missing = sorted(set(recorded) - CONTROLLER_API_CALLS)
    assert missing == [], f"calls the chart does not grant: {missing}"
