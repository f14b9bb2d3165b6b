"""Continuum: a Kubernetes disaster-recovery controller.

For each ``Continuum`` custom resource (``dr.openova.io/v1``) Continuum keeps exactly one
region of an active-hotstandby application as the writer and moves that role safely.
"""

__version__ = "0.1.0"
