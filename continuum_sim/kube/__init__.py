"""A faithful emulator of the Kubernetes API server's HTTP protocol (aiohttp, asyncio).

kubernetes-asyncio and kubectl talk to it as to a real cluster for core ``v1`` Namespaces,
Secrets, ConfigMaps and Events, ``coordination.k8s.io/v1`` Leases,
``apiextensions.k8s.io/v1`` CRDs and every custom resource a registered CRD defines.
See ``docs/emulator.md``.
"""

from __future__ import annotations

from continuum_sim.kube.emulator import (
    KubeEmulator,
    bundled_crd_paths,
    kubeconfig_dict,
    write_kubeconfig,
)
from continuum_sim.kube.requestlog import RequestLog, RequestRecord
from continuum_sim.kube.status import StatusError
from continuum_sim.kube.store import Store
from continuum_sim.kube.watch import Watcher, WatchEvent

__all__ = [
    "KubeEmulator",
    "RequestLog",
    "RequestRecord",
    "StatusError",
    "Store",
    "WatchEvent",
    "Watcher",
    "bundled_crd_paths",
    "kubeconfig_dict",
    "write_kubeconfig",
]
