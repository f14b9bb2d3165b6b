"""Supervision of actors: one_for_one restarts with a budget, and the key → ref registry."""

from continuum.supervisor.registry import Registry
from continuum.supervisor.supervisor import Supervisor, SupervisorClosed, SupervisorEscalation

__all__ = ["Registry", "Supervisor", "SupervisorClosed", "SupervisorEscalation"]
