"""The ContinuumActor: one per Continuum CR, owner of its lease, drift, switchovers, health."""
