"""The ``continuum`` command line: ``entry`` parses and dispatches, ``commands`` runs the API
commands through ``client`` and prints with ``render``; ``logview`` is ``continuum logs``."""

from continuum.cli.entry import main

__all__ = ["main"]
