"""Leader election among a region's replicas: one coordination Lease, one leader that runs
the actors (``elector``), and the Lease's wire shapes and calls (``lease_api``)."""
