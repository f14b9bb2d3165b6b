"""continuum.supervisor."""
