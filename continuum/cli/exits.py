"""The exit codes of ``continuum`` (``docs/cli.md``): 0 success; 1 the operation failed
(API error, unreachable, not confirmed, no answer in time); 2 usage or configuration error;
3 blockers in the DryRun, or health unhealthy/unknown; 4 the switchover was refused (409);
5 the switchover failed (compensated); 130 interrupted; 70 the controller escalated (an
actor exceeded its restart budget)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_UNHEALTHY = 3
EXIT_REFUSED = 4
EXIT_SWITCHOVER_FAILED = 5
EXIT_INTERRUPTED = 130
EXIT_ESCALATED = 70
