"""continuum.witness."""
