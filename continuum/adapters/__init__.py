"""continuum.adapters."""
