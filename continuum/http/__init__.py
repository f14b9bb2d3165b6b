"""continuum.http."""
