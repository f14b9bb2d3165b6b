"""continuum.sim."""
