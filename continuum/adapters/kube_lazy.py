"""kubernetes-asyncio without loading what the controller does not use.

``import kubernetes_asyncio`` (or any of its submodules: the parent packages run first) executes
``kubernetes_asyncio/__init__.py``, ``client/__init__.py``, ``client/api/__init__.py`` and
``client/models/__init__.py``, which import every API class and every model class: about
40 MiB of resident memory, more than a third of an idle controller. The controller uses a
handful of API classes, ``ApiClient``, ``Configuration``, the exceptions and ``config``, and
decodes every answer itself with msgspec (``_preload_content=False``), so it never builds a
model object.

:func:`install` registers those four packages in :data:`sys.modules` *before* the real ones
load, as module objects made from the library's own import specs (same ``__path__``,
``__file__``, ``__spec__``) whose ``__init__`` has not run. Each resolves a name on first
access (PEP 562 ``__getattr__``) from an index of its real ``__init__`` read with :mod:`ast`:
``client.CoreV1Api`` imports ``client/api/core_v1_api.py`` only, ``client.models.V1Lease``
``client/models/v1_lease.py`` only. Submodule imports work as usual.

Guarantees:

* Transparent: every name the real package defines resolves to the same object. A name the
  index does not know (and any package whose ``__init__`` holds a statement other than
  absolute imports and literal assignments, e.g. a future version of the library) makes the
  package run its real ``__init__`` in place, once; from then on it is the real package.
* Never replaces a package already imported: if ``kubernetes_asyncio`` is in
  :data:`sys.modules` when :func:`install` runs, it does nothing.
* Never imports kubernetes-asyncio code itself: :func:`install` only locates the packages.

``continuum/__init__.py`` calls :func:`install`, so it runs before any Continuum module can
import kubernetes-asyncio, whichever is imported first.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any, Final

LAZY_PACKAGES: Final = (
    "kubernetes_asyncio",
    "kubernetes_asyncio.client",
    "kubernetes_asyncio.client.api",
    "kubernetes_asyncio.client.models",
)
"""The packages made lazy, parents first."""

_lock = threading.RLock()


class _Index:
    """What a package's ``__init__`` defines, read without running it: ``name → (module,
    attribute)`` for ``from m import a as name`` (attribute ``None`` for ``import m as name``)
    and ``name → value`` for literal assignments. ``complete`` is false when the ``__init__``
    holds anything else, so the index cannot stand in for it."""

    def __init__(self, source: str) -> None:
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.constants: dict[str, Any] = {}
        self.complete = True
        for node in ast.parse(source).body:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # the docstring
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    if alias.name == "*":
                        self.complete = False
                    else:
                        self.imports[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.Import) and all(a.asname for a in node.names):
                for alias in node.names:
                    self.imports[str(alias.asname)] = (alias.name, None)
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                try:
                    self.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    self.complete = False
            else:
                self.complete = False


def _complete(module: ModuleType) -> None:
    """Run the package's real ``__init__`` in ``module`` (once): it becomes the real package."""
    with _lock:
        if module.__dict__.pop("__getattr__", None) is None:
            return  # already completed
        module.__dict__.pop("__dir__", None)
        spec = module.__spec__
        loader = spec.loader if spec is not None else None
        assert loader is not None  # set by module_from_spec in _lazy_package
        loader.exec_module(module)


def _lazy_package(name: str) -> ModuleType | None:
    """The lazy stand-in for package ``name`` (not yet registered), or ``None`` when its
    ``__init__`` cannot be indexed."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return None
    get_source = getattr(spec.loader, "get_source", None)
    source = get_source(name) if get_source is not None else None
    if not isinstance(source, str):
        return None
    index = _Index(source)
    if not index.complete:
        return None
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(index.constants)

    def __getattr__(attr: str) -> Any:
        target = index.imports.get(attr)
        if target is None:
            if attr.startswith("__") and attr.endswith("__"):
                raise AttributeError(f"module {name!r} has no attribute {attr!r}")
            if importlib.util.find_spec(f"{name}.{attr}") is not None:
                return importlib.import_module(f"{name}.{attr}")  # a submodule
            _complete(module)
            return getattr(module, attr)
        source_module, source_attr = target
        imported = importlib.import_module(source_module)
        value = imported if source_attr is None else getattr(imported, source_attr)
        setattr(module, attr, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*module.__dict__, *index.imports})

    module.__dict__["__getattr__"] = __getattr__
    module.__dict__["__dir__"] = __dir__
    return module


def install() -> bool:
    """Register the lazy packages of :data:`LAZY_PACKAGES` in :data:`sys.modules` unless
    kubernetes-asyncio is already imported (or not installed). Returns whether it did.
    Idempotent; a package that cannot be indexed (and every one below it) is left to the
    normal import."""
    with _lock:
        if LAZY_PACKAGES[0] in sys.modules:
            return False
        installed = False
        for name in LAZY_PACKAGES:
            module = _lazy_package(name)
            if module is None:
                break
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, module)
            installed = True
        return installed


def is_loaded(package: str) -> bool:
    """Whether ``package``'s real ``__init__`` has run (false for a lazy stand-in still
    resolving names on demand, and for a package not imported)."""
    module = sys.modules.get(package)
    return module is not None and "__getattr__" not in module.__dict__
