"""continuum.switchover."""
