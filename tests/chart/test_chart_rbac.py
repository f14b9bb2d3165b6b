"""RBAC is complete and minimal: the chart grants exactly the calls the controller makes.

``rbac_calls.CONTROLLER_API_CALLS`` is the one list of every (verb, API group, resource) the
controller sends to a Kubernetes API server. The end-to-end switchover suite records the calls
it sees at the emulated API servers and checks them with ``assert_calls_are_expected``; this
module checks that the chart grants that list and nothing beyond it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chart_support import ENABLED_VALUES, NAMESPACE, Rendered, merge
from rbac_calls import CONTROLLER_API_CALLS, assert_calls_are_expected, grants

Render = Callable[[dict[str, Any]], Rendered]


@pytest.fixture(scope="module")
def rendered(render: Render) -> Rendered:
    return render(ENABLED_VALUES)


ALL_FEATURES = {"continuum": {"managedRoles": {"secretNamespaces": ["apps"]}}}
"""The enabled chart with every feature that needs a grant on (the role re-assert is off
until its namespaces are listed)."""


def test_chart_grants_exactly_the_calls_the_controller_makes(render: Render) -> None:
    granted = grants(render(merge(ENABLED_VALUES, ALL_FEATURES)).objects)
    assert sorted(granted - CONTROLLER_API_CALLS) == [], "granted beyond what the controller uses"
    assert sorted(CONTROLLER_API_CALLS - granted) == [], "controller calls the chart does not grant"


def test_no_rule_uses_a_wildcard_or_a_resource_name_escape(rendered: Rendered) -> None:
    for obj in rendered.objects:
        for rule in obj.get("rules", []) if obj["kind"] in ("Role", "ClusterRole") else []:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (obj["metadata"]["name"], rule)
            assert "nonResourceURLs" not in rule


def test_secrets_are_readable_only_in_the_witness_secret_namespace(render: Render) -> None:
    rendered = render(merge(ENABLED_VALUES, {"continuum": {"witness": {"secretNamespace": "w"}}}))
    assert ("get", "", "secrets") not in grants(rendered.all("ClusterRole"))
    holders = [r for r in rendered.all("Role") if ("get", "", "secrets") in grants([r])]
    assert [r["metadata"]["namespace"] for r in holders] == ["w"]
    binding = rendered.one("RoleBinding", holders[0]["metadata"]["name"])
    assert binding["metadata"]["namespace"] == "w"


def test_leader_election_lease_access_is_a_role_in_the_release_namespace(
    rendered: Rendered,
) -> None:
    role = rendered.one("Role", "continuum-controller-leader-election")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert grants([role]) == {
        ("get", "coordination.k8s.io", "leases"),
        ("create", "coordination.k8s.io", "leases"),
        ("update", "coordination.k8s.io", "leases"),
        ("list", "coordination.k8s.io", "leases"),
        ("delete", "coordination.k8s.io", "leases"),
    }


@pytest.mark.parametrize(
    ("override", "verbs"),
    [
        ({"replicas": 1}, {"get", "create", "update"}),
        ({"sharding": False}, {"get", "create", "update"}),
        ({"replicas": 3}, {"get", "create", "update", "list", "delete"}),
    ],
)
def test_membership_lease_list_and_delete_are_granted_only_when_sharded(
    render: Render, override: dict[str, object], verbs: set[str]
) -> None:
    rendered = render(merge(ENABLED_VALUES, {"continuum": override}))
    role = rendered.one("Role", "continuum-controller-leader-election")
    assert {verb for verb, _, _ in grants([role])} == verbs
    sharded = "list" in verbs
    env = rendered.env()
    assert env["CONTINUUM_SHARDING"]["value"] == ("true" if sharded else "false")
    if sharded:  # the peers forward API requests for this replica's CRs to its pod
        assert env["CONTINUUM_POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    else:
        assert "CONTINUUM_POD_IP" not in env


def test_audit_outbox_configmaps_are_a_role_in_the_release_namespace(
    rendered: Rendered,
) -> None:
    role = rendered.one("Role", "continuum-controller-audit-outbox")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert grants([role]) == {
        ("list", "", "configmaps"),
        ("create", "", "configmaps"),
        ("delete", "", "configmaps"),
        ("deletecollection", "", "configmaps"),
    }
    assert not any(call[2] == "configmaps" for call in grants(rendered.all("ClusterRole")))


def test_every_binding_binds_its_role_to_the_controller_service_account(
    render: Render,
) -> None:
    rendered = render(merge(ENABLED_VALUES, ALL_FEATURES))
    account = rendered.one("ServiceAccount")["metadata"]
    bindings = rendered.all("RoleBinding") + rendered.all("ClusterRoleBinding")
    assert len(bindings) == 5
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
        role_kind = "ClusterRole" if binding["kind"] == "ClusterRoleBinding" else "Role"
        assert binding["roleRef"]["kind"] == role_kind
        rendered.one(role_kind, binding["roleRef"]["name"])


ROLE_SECRETS = "continuum-controller-role-secrets"
PATCH_SECRETS = ("patch", "", "secrets")


def _secret_patchers(rendered: Rendered) -> list[tuple[str, str]]:
    """(kind, namespace) of every Role/ClusterRole granting patch on Secrets."""
    return [
        (obj["kind"], obj["metadata"].get("namespace", ""))
        for obj in rendered.all("Role") + rendered.all("ClusterRole")
        if PATCH_SECRETS in grants([obj])
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({}, []),
        ({"watchNamespaces": ["apps"]}, [("Role", "apps")]),
        (
            {"watchNamespaces": ["apps"], "managedRoles": {"secretNamespaces": ["pg-a", "pg-b"]}},
            [("Role", "pg-a"), ("Role", "pg-b")],
        ),
        ({"managedRoles": {"reassert": False, "secretNamespaces": ["pg-a"]}}, []),
    ],
    ids=["no-namespace-listed-is-off", "watch-namespaces", "listed-namespaces", "off"],
)
def test_role_secrets_are_patchable_only_where_the_pairs_live(
    render: Render, override: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    rendered = render(merge(ENABLED_VALUES, {"continuum": override}))
    assert sorted(_secret_patchers(rendered)) == expected
    for kind, namespace in expected:
        role = next(
            r
            for r in rendered.all(kind)
            if r["metadata"]["name"] == ROLE_SECRETS
            and r["metadata"].get("namespace", "") == namespace
        )
        assert grants([role]) == {PATCH_SECRETS}  # never get/list: the data is not read
        binding_kind = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
        [binding] = [
            b
            for b in rendered.all(binding_kind)
            if b["metadata"]["name"] == ROLE_SECRETS
            and b["metadata"].get("namespace", "") == namespace
        ]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": kind,
            "name": ROLE_SECRETS,
        }
    # On only where it may patch: never a cluster-wide grant (patch answers with the whole
    # Secret, so it would read every Secret of the cluster).
    assert rendered.env()["CONTINUUM_ROLE_REASSERT"]["value"] == str(bool(expected)).lower()


def test_recorded_calls_outside_the_list_are_reported() -> None:
    assert_calls_are_expected([("get", "dr.openova.io", "continuums")])
    with pytest.raises(AssertionError, match="pods/exec"):
        assert_calls_are_expected([("create", "", "pods/exec")])
