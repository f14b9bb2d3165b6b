"""The ``continuum`` command line.

Exit codes: 0 success; 1 the operation failed; 2 usage or configuration error;
70 the controller escalated (an actor exceeded its restart budget).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import anyio

from continuum import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ESCALATED = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="continuum",
        description="Kubernetes disaster-recovery controller: one writer region per Continuum.",
    )
    parser.add_argument("--version", action="version", version=f"continuum {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="override CONTINUUM_LOG_LEVEL",
    )
    common.add_argument(
        "--log-format", choices=["json", "console"], help="override CONTINUUM_LOG_FORMAT"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "run",
        parents=[common],
        help="run the controller (configuration from CONTINUUM_* environment variables)",
        description="Run the controller. Configuration comes from CONTINUUM_* variables; "
        "see docs/configuration.md. SIGTERM/SIGINT stop it cleanly.",
    )
    sub.add_parser(
        "demo",
        parents=[common],
        help="run the controller on its embedded default environment",
    )
    return parser


def _configure(args: argparse.Namespace) -> int | None:
    from continuum.config import ConfigError, Settings
    from continuum.logs import configure_logging

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as err:
        print(f"continuum: configuration error: {err}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(
        level=args.log_level or settings.log_level,
        fmt=args.log_format or settings.log_format,
    )
    args.settings = settings
    return None


def _run_main(args: argparse.Namespace, *, demo: bool) -> int:
    from continuum.clock import SystemClock
    from continuum.config import ConfigError, Settings
    from continuum.controller import EmptyCRSource, run_controller
    from continuum.lifecycle import run_until_signal
    from continuum.supervisor import SupervisorEscalation

    settings: Settings = args.settings
    if not demo:
        try:
            settings.require_for_run()
        except ConfigError as err:
            print(f"continuum: configuration error: {err}", file=sys.stderr)
            return EXIT_USAGE

    async def main() -> int:
        return await run_controller(settings, clock=SystemClock(), source=EmptyCRSource())

    try:
        return anyio.run(run_until_signal, main)
    except SupervisorEscalation as err:
        print(f"continuum: escalating: {err}", file=sys.stderr)
        return EXIT_ESCALATED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    failed = _configure(args)
    if failed is not None:
        return failed
    if args.command == "run":
        return _run_main(args, demo=False)
    if args.command == "demo":
        return _run_main(args, demo=True)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
