"""The pure core of a ContinuumActor: decisions as ``decide(state, event) -> (state, effects)``
over frozen state, with no I/O and no clock (time arrives in the events). The actor
(``continuum.actors.continuum``) is the shell that feeds events in and carries effects out
through the ports; the simulator (``tests/simulation``) drives the same actor against an
in-memory world. See ``docs/architecture.md`` ("Core and shell")."""
