"""Assembly: turns :class:`~continuum.config.Settings` into opened adapters and witnesses
(``edges``, ``witness``) and hands them to the actors. Decides nothing."""
