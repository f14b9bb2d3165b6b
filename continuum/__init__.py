"""Continuum: a Kubernetes disaster-recovery controller.

For each ``Continuum`` custom resource (``dr.openova.io/v1``) Continuum keeps exactly one
region of an active-hotstandby application as the writer and moves that role safely.
"""

__version__ = "0.1.0"

from continuum.adapters import kube_lazy as _kube_lazy

# Before any Continuum module can import kubernetes-asyncio: its model classes (about 40 MiB)
# load only if something asks for one (see continuum.adapters.kube_lazy).
_kube_lazy.install()
