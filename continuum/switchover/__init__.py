"""The switchover domain: plan, the seven steps, sequencer with compensation, journal rule,
DryRun, fingerprint, post-switchover health and triggers. No I/O; see ``docs/switchover.md``.

Entry points: :class:`continuum.switchover.sequencer.Sequencer`,
:func:`continuum.switchover.dryrun.dry_run`, :func:`continuum.switchover.journal.decide`,
:func:`continuum.switchover.health.post_switchover_health`,
:func:`continuum.switchover.triggers.decide_trigger`.
"""
