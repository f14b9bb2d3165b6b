"""What the emulator serves: one :class:`ResourceType` per (group, version, plural).

Built-in kinds are declared here; custom resources come from CRDs (``crds.py``). Several
served versions of one CRD share one storage bucket, keyed by :data:`GroupResource`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from continuum_sim.kube.schema import CompiledSchema

GroupResource = tuple[str, str]
"""``(group, plural)``: the storage identity of a resource ("" is the core group)."""

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (``kubectl get`` column)."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""
    format: str = ""


@dataclass(frozen=True)
class ResourceType:
    """Everything the server needs to know to serve one resource at one version."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    custom: bool = False
    schema: CompiledSchema | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    list_kind: str = field(default="")

    @property
    def api_version(self) -> str:
        """``group/version`` (``v1`` for the core group)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> GroupResource:
        return (self.group, self.plural)

    @property
    def list_kind_name(self) -> str:
        return self.list_kind or f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """``plural.group`` as error messages spell it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def builtin_types() -> list[ResourceType]:
    """The built-in kinds the emulator serves from start-up."""
    return [
        _builtin(
            "",
            "Namespace",
            namespaced=False,
            short_names=("ns",),
            status_subresource=True,
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        ),
        _builtin("", "Secret"),
        _builtin("", "ConfigMap", short_names=("cm",)),
        _builtin("", "Event", short_names=("ev",)),
        _builtin("coordination.k8s.io", "Lease"),
        _builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            namespaced=False,
            short_names=("crd", "crds"),
            categories=("api-extensions",),
            status_subresource=True,
        ),
    ]


def _builtin(
    group: str,
    kind: str,
    *,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    status_subresource: bool = False,
    verbs: tuple[str, ...] = ALL_VERBS,
) -> ResourceType:
    """A built-in ``v1`` kind; singular and plural follow from the kind (``ConfigMap`` →
    ``configmap`` / ``configmaps``), as they do for every kind served here."""
    singular = kind.lower()
    return ResourceType(
        group=group,
        version="v1",
        plural=f"{singular}s",
        singular=singular,
        kind=kind,
        namespaced=namespaced,
        short_names=short_names,
        categories=categories,
        status_subresource=status_subresource,
        verbs=verbs,
    )
