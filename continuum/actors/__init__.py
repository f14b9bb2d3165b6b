"""The actor runtime and the actors: ContinuumActor, AuditPublisher."""
