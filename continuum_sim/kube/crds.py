"""CustomResourceDefinitions: admission (validation, defaults, status) and the registry of
served resources that registering a CRD changes.

Creating or replacing a CRD makes every served version's resource available at once
(discovery, CRUD, watch, ``/status`` when declared); deleting it removes the resource and
all its objects. The CRD's ``status`` is computed by the server (``Established``,
``NamesAccepted``, ``acceptedNames``, ``storedVersions``), as the real apiextensions
controller does, but synchronously.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jsonschema.exceptions import SchemaError

from continuum.ports import Clock
from continuum_sim.kube.cel import CelCompileError
from continuum_sim.kube.objectmeta import timestamp
from continuum_sim.kube.resources import GroupResource, PrinterColumn, ResourceType
from continuum_sim.kube.schema import CompiledSchema
from continuum_sim.kube.status import StatusError, field_cause, invalid

CRD_GROUP_RESOURCE: GroupResource = ("apiextensions.k8s.io", "customresourcedefinitions")


class Registry:
    """Every served resource, by (group, version, plural), in registration order."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove(self, group_resource: GroupResource) -> None:
        """Stop serving every version of ``(group, plural)``."""
        for key in [k for k in self._types if (k[0], k[2]) == group_resource]:
            del self._types[key]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource serving ``kind`` at ``apiVersion`` (``group/version`` or ``v1``)."""
        group, _, version = api_version.rpartition("/")
        return next(
            (
                rt
                for rt in self._types.values()
                if rt.group == group and rt.version == version and rt.kind == kind
            ),
            None,
        )

    def groups(self) -> dict[str, list[str]]:
        """Named groups (not the core one) and their served versions, in order."""
        out: dict[str, list[str]] = {}
        for group, version, _ in self._types:
            if group and version not in out.setdefault(group, []):
                out[group].append(version)
        return out

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for (g, v, _), rt in self._types.items() if (g, v) == (group, version)]

    def all(self) -> list[ResourceType]:
        return list(self._types.values())


def _crd_invalid(name: str, field: str, message: str) -> StatusError:
    return invalid(
        kind="CustomResourceDefinition",
        group="apiextensions.k8s.io",
        name=name,
        causes=[field_cause(field, message)],
    )


def crd_admission(clock: Clock) -> Callable[[dict[str, Any], dict[str, Any] | None], None]:
    """The CRD admission hook, stamping condition times from ``clock``."""

    def admit(new: dict[str, Any], old: dict[str, Any] | None) -> None:
        admit_crd(new, old, now=timestamp(clock.now()))

    return admit


def admit_crd(new: dict[str, Any], old: dict[str, Any] | None, *, now: str) -> None:
    """Validate a CRD, apply the API server's defaults and compute its status (in place).
    Raises StatusError 422 naming the offending field."""
    meta = new.get("metadata") or {}
    name = str(meta.get("name", ""))
    spec = new.get("spec")
    if not isinstance(spec, dict):
        raise _crd_invalid(name, "spec", "Required value")
    names = spec.get("names")
    if not isinstance(names, dict) or not names.get("plural") or not names.get("kind"):
        raise _crd_invalid(name, "spec.names", "Required value: plural and kind are required")
    group = spec.get("group") or ""
    if not group:
        raise _crd_invalid(name, "spec.group", "Required value")
    if name != f"{names['plural']}.{group}":
        raise _crd_invalid(
            name,
            "metadata.name",
            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        raise _crd_invalid(
            name,
            "spec.scope",
            f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        raise _crd_invalid(
            name,
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        )
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        raise _crd_invalid(
            name,
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        )
    for index, version in enumerate(versions):
        schema = (
            ((version.get("schema") or {}).get("openAPIV3Schema"))
            if isinstance(version, dict)
            else None
        )
        if schema is not None:
            try:
                CompiledSchema(schema)
            except SchemaError as exc:
                raise _crd_invalid(
                    name,
                    f"spec.versions[{index}].schema.openAPIV3Schema",
                    f"Invalid value: {exc.message}",
                ) from exc
            except CelCompileError as exc:
                raise _crd_invalid(
                    name, f"spec.versions[{index}].schema.{exc.field}", exc.message
                ) from exc
    names.setdefault("singular", str(names["kind"]).lower())
    names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for condition in ((old or {}).get("status") or {}).get("conditions") or []:
        now = condition.get("lastTransitionTime") or now
    storage = next(v["name"] for v in versions if v.get("storage"))
    stored = list(((old or {}).get("status") or {}).get("storedVersions") or [])
    if storage not in stored:
        stored.append(storage)
    new["status"] = {
        "acceptedNames": dict(names),
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "reason": "NoConflicts",
                "message": "no conflicts found",
                "lastTransitionTime": now,
            },
            {
                "type": "Established",
                "status": "True",
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
                "lastTransitionTime": now,
            },
        ],
        "storedVersions": stored,
    }


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """One :class:`ResourceType` per served version of an admitted CRD."""
    spec = crd["spec"]
    names = spec["names"]
    out: list[ResourceType] = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        columns = tuple(
            PrinterColumn(
                name=c["name"],
                type=c.get("type", "string"),
                json_path=c["jsonPath"],
                priority=int(c.get("priority", 0)),
                description=c.get("description", ""),
                format=c.get("format", ""),
            )
            for c in version.get("additionalPrinterColumns") or []
        )
        out.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                list_kind=names.get("listKind", ""),
                namespaced=spec["scope"] == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                custom=True,
                schema=CompiledSchema(schema) if schema is not None else None,
                printer_columns=columns,
            )
        )
    return out
