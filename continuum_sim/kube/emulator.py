"""``KubeEmulator``: one emulated Kubernetes API server on 127.0.0.1, in-process.

    async with KubeEmulator(region="a") as kube:
        kube.load_crds(bundled_crd_paths())
        kube.write_kubeconfig(tmp_path / "kubeconfig")
        ...  # talk to kube.url with kubernetes-asyncio or kubectl

Several emulators in one process are fully independent (own store, port, faults, log).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from continuum.aclose import AsyncStartStop
from continuum.clock import SystemClock
from continuum.ports import Clock
from continuum_sim.kube.builtins import builtin_admission
from continuum_sim.kube.crds import CRD_GROUP_RESOURCE, Registry, types_from_crd
from continuum_sim.kube.faults import Faults
from continuum_sim.kube.objectmeta import clone
from continuum_sim.kube.requestlog import RequestLog
from continuum_sim.kube.resources import ResourceType, builtin_types
from continuum_sim.kube.server import ApiServer
from continuum_sim.kube.status import StatusError
from continuum_sim.kube.store import Store, WriteResult
from continuum_sim.kube.watch import WatchEvent
from continuum_sim.webserver import LocalWebServer

BUNDLED_CRDS_DIR = Path(__file__).resolve().parents[1] / "crds"
_REPO_CHART_CRD = Path(__file__).resolve().parents[2] / "chart" / "crds" / "continuum.yaml"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def bundled_crd_paths() -> list[Path]:
    """The CRD files the emulator knows: CNPG ``Cluster`` and Gateway ``HTTPRoute`` from
    ``continuum_sim/crds/``, plus the Continuum CRD (packaged copy, else the repository's
    ``chart/crds/continuum.yaml``) when it exists and is not empty."""
    paths = sorted(BUNDLED_CRDS_DIR.glob("*.yaml"))
    if not any(p.name == "continuum.yaml" for p in paths) and _REPO_CHART_CRD.is_file():
        paths.append(_REPO_CHART_CRD)
    return [p for p in paths if p.stat().st_size > 0]


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_parsed: dict[tuple[Path, int, int], list[dict[str, Any]]] = {}


def read_crd_documents(path: Path) -> list[dict[str, Any]]:
    """Every ``CustomResourceDefinition`` document in a (multi-document) YAML file, as
    fresh copies (parsed once per file version)."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    if key not in _parsed:
        docs = yaml.load_all(path.read_text(), Loader=_Loader)
        _parsed[key] = [
            d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
        ]
    copies: list[dict[str, Any]] = clone(_parsed[key])
    return copies


class KubeEmulator(AsyncStartStop):
    """An emulated API server: ``store`` (direct access), ``faults``, ``requests`` (log).

    ``clock`` drives timestamps, watch timeouts, bookmarks and injected delays.
    ``token``, when set, is the only bearer token accepted (401 otherwise).
    """

    def __init__(
        self,
        *,
        region: str = "local",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        token: str | None = None,
        crd_paths: Iterable[Path | str] = (),
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        history_limit: int = 10_000,
        bookmark_interval: float = 60.0,
        watch_timeout: float = 1800.0,
    ) -> None:
        self.region = region
        self.host = host
        self.clock: Clock = clock or SystemClock()
        self.store = Store(clock=self.clock, history_limit=history_limit)
        self.registry = Registry(builtin_types())
        self.faults = Faults()
        self.requests = RequestLog()
        self.store.admission.update(builtin_admission(self.clock))
        self.store.subscribe(self._on_event)
        self._api = ApiServer(
            store=self.store,
            registry=self.registry,
            faults=self.faults,
            requests=self.requests,
            clock=self.clock,
            token=token,
            bookmark_interval=bookmark_interval,
            watch_timeout=watch_timeout,
        )
        self._http = LocalWebServer(
            self._api.app,
            hosts=(host,),
            port=port,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        self.token = token
        for namespace in namespaces:
            self.ensure_namespace(namespace)
        self.load_crds(crd_paths)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; read it from :attr:`url`)."""
        await self._http.start()
        self._api.server_address = f"{self.host}:{self.port}"

    async def stop(self) -> None:
        """End every watch, release hung requests and stop listening."""
        if not self._http.running:
            return
        self.kill_watches(abort=False)
        self.faults.clear()
        await self._http.stop()

    @property
    def port(self) -> int:
        """The listening port (the constructor's until the first start picks one)."""
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- kubeconfig ----------------------------------------------------------------------

    def kubeconfig_dict(self, context: str | None = None) -> dict[str, Any]:
        """A kubeconfig with one context (default: the region name) for this emulator."""
        return kubeconfig_dict({context or self.region: self})

    def write_kubeconfig(self, path: Path | str, context: str | None = None) -> Path:
        """Write :meth:`kubeconfig_dict` to ``path``; returns the path."""
        return write_kubeconfig(path, {context or self.region: self})

    # --- resources and CRDs --------------------------------------------------------------

    def resource_type(self, group: str, version: str, plural: str) -> ResourceType:
        """The served resource; raises ``KeyError`` when it is not served."""
        rt = self.registry.lookup(group, version, plural)
        if rt is None:
            raise KeyError(f"{plural}.{group}/{version} is not served")
        return rt

    def ensure_namespace(self, name: str) -> None:
        """Create namespace ``name`` unless it exists."""
        rt = self.resource_type("", "v1", "namespaces")
        if self.store.get("", "namespaces", "", name) is None:
            self.store.create(rt, None, {"metadata": {"name": name}})

    def apply(self, obj: Mapping[str, Any], *, validate: bool = True) -> WriteResult:
        """Create ``obj``, or replace it when it exists (in-process, no HTTP, same
        validation). Raises StatusError like the HTTP API would.

        ``validate=False`` skips the CRD schema and its CEL rules (pruning and defaults
        too), to store what a real server refuses today but an older CRD let through."""
        body = dict(obj)
        rt = self.registry.for_kind(str(body.get("apiVersion", "")), str(body.get("kind", "")))
        if rt is None:
            raise StatusError(
                404, f"no resource serves {body.get('apiVersion')} {body.get('kind')}"
            )
        if not validate:
            rt = dataclasses.replace(rt, schema=None)
        meta = dict(body.get("metadata") or {})
        namespace = meta.get("namespace", "default") if rt.namespaced else ""
        current = self.store.get(rt.group, rt.plural, namespace, meta.get("name", ""))
        if current is None:
            return self.store.create(rt, namespace or None, body)
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        body["metadata"] = meta
        return self.store.update(rt, namespace, meta["name"], body)

    def load_crds(self, paths: Iterable[Path | str]) -> list[str]:
        """Create or replace every CRD in the YAML files; returns the CRD names. Each
        served version is available as soon as this returns."""
        names: list[str] = []
        for path in paths:
            for doc in read_crd_documents(Path(path)):
                names.append(str(self.apply(doc).object["metadata"]["name"]))
        return names

    def _on_event(self, event: WatchEvent) -> None:
        if event.group_resource != CRD_GROUP_RESOURCE:
            return
        spec = event.object["spec"]
        served = (spec["group"], spec["names"]["plural"])
        old_spec = (event.old or {}).get("spec") or spec
        self.registry.remove((old_spec["group"], old_spec["names"]["plural"]))
        if event.type == "DELETED":
            self.store.drop_resource(served)
            return
        for rt in types_from_crd(event.object):
            self.registry.add(rt)

    # --- watches -------------------------------------------------------------------------

    def kill_watches(self, *, abort: bool = True) -> int:
        """End every open watch; ``abort`` cuts the connections mid-stream (the client
        sees a broken stream), otherwise the streams end cleanly. Returns how many."""
        watchers = self.store.watchers()
        for watcher in watchers:
            if abort:
                watcher.close(abort=True)
            else:
                self.store.stop_watch(watcher)
        return len(watchers)

    def send_bookmarks(self) -> int:
        """Send a BOOKMARK now on every watch that allowed bookmarks; returns how many."""
        sent = 0
        for watcher in self.store.watchers():
            if watcher.bookmark is not None:
                watcher.bookmark()
                sent += 1
        return sent


def kubeconfig_dict(
    emulators: Mapping[str, KubeEmulator], *, current: str | None = None
) -> dict[str, Any]:
    """A kubeconfig with one context (and cluster and user) per ``{context: emulator}``;
    ``current`` (default: the first) is the current context."""
    contexts = list(emulators)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": c, "cluster": {"server": e.url}} for c, e in emulators.items()],
        "users": [
            {"name": c, "user": {"token": e.token or "continuum-emulator"}}
            for c, e in emulators.items()
        ],
        "contexts": [
            {"name": c, "context": {"cluster": c, "user": c, "namespace": "default"}}
            for c in contexts
        ],
        "current-context": current or (contexts[0] if contexts else ""),
    }


def write_kubeconfig(
    path: Path | str, emulators: Mapping[str, KubeEmulator], *, current: str | None = None
) -> Path:
    """Write :func:`kubeconfig_dict` as YAML to ``path``; returns the path."""
    target = Path(path)
    target.write_text(yaml.safe_dump(kubeconfig_dict(emulators, current=current), sort_keys=False))
    return target
