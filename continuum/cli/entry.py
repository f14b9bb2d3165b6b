"""The ``continuum`` command line.

Commands: ``run`` (the controller), ``demo``, ``dry-run``, ``health``, ``status``,
``switchover`` (the API commands, see ``continuum.cli.client``), ``logs`` (the log
pretty-printer, ``continuum.cli.logview``) and ``sim kube`` (the Kubernetes API emulator).

Exit codes: ``continuum.cli.exits``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import anyio

from continuum import __version__
from continuum.cli.exits import (
    EXIT_ESCALATED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
)
from continuum.cli.terminal import Terminal


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
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run the controller on its embedded default environment",
        description="Two emulated regions with CNPG behaviour, local nats-server and "
        "pdns_server, one controller instance per region and a sample Continuum. Without "
        "--scenario it prints what to try and runs until Ctrl-C.",
    )
    demo.add_argument(
        "--scenario",
        choices=["switchover", "failover"],
        help="switchover: DryRun → Execute → health; failover: region A goes dark, B takes over",
    )
    demo.add_argument(
        "--api-port",
        type=int,
        default=8082,
        help="API port of region A's instance (region B uses the next port; default 8082)",
    )
    demo.add_argument("--workdir", help="keep the stack's files here (default: a temp dir)")
    _add_api_commands(sub)
    _add_tool_commands(sub)
    return parser


def _cr_ref(text: str) -> tuple[str, str]:
    ns, sep, name = text.partition("/")
    if not sep or not ns or not name or "/" in name:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME, got {text!r}")
    return ns, name


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _timeout(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _add_api_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument(
        "--api",
        metavar="URL",
        help="controller API base URL (env CONTINUUM_API_URL; default http://127.0.0.1:8082)",
    )
    api.add_argument(
        "--token", help="bearer token (env CONTINUUM_API_TOKEN); sent as Authorization: Bearer"
    )
    api.add_argument("--json", action="store_true", help="print the API's raw JSON")
    api.add_argument(
        "--timeout", type=_timeout, default=30.0, metavar="S", help="per-request timeout"
    )
    one = argparse.ArgumentParser(add_help=False)
    one.add_argument("target", type=_cr_ref, metavar="NS/NAME", help="the Continuum")

    cmd = sub.add_parser(
        "dry-run",
        parents=[api, one],
        help="preview a switchover (read-only)",
        description="Preview a switchover: the seven steps, blockers, warnings, fingerprint. "
        "Exit 0 without blockers, 3 with blockers.",
    )
    cmd.add_argument("--to", required=True, metavar="REGION", help="target region")
    cmd.add_argument("--reason", default="", help="reason recorded in the plan")

    cmd = sub.add_parser(
        "health",
        parents=[api, one],
        help="the post-switchover health report",
        description="The latest post-switchover health report. Exit 0 healthy, 3 otherwise.",
    )
    cmd.add_argument("--fresh", action="store_true", help="recompute it now")

    cmd = sub.add_parser("status", parents=[api], help="status of one or every Continuum")
    cmd.add_argument("target", type=_cr_ref, nargs="?", metavar="NS/NAME")

    cmd = sub.add_parser(
        "switchover",
        parents=[api, one],
        help="move the writer region (asks first)",
        description="Show the DryRun, ask for confirmation, start the switchover, follow it "
        "step by step, then wait for its health report. Exit 0 succeeded and healthy, "
        "3 blockers or unhealthy, 4 refused, 5 failed (compensated).",
    )
    cmd.add_argument("--to", required=True, metavar="REGION", help="target region")
    cmd.add_argument("--reason", default="", help="reason recorded in the plan and audit")
    cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    cmd.add_argument(
        "--wait",
        type=_seconds,
        default=900.0,
        metavar="S",
        help="give up following the switchover after S seconds (default 900)",
    )
    cmd.add_argument(
        "--health-wait",
        type=_seconds,
        default=120.0,
        metavar="S",
        help="give up waiting for the health report after S seconds (default 120)",
    )
    cmd.add_argument(
        "--poll-interval",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="seconds between status polls (default 1)",
    )


def _add_tool_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from continuum.cli.logview import LEVEL_ORDER

    cmd = sub.add_parser(
        "logs",
        help="filter and pretty-print JSON log lines from stdin",
        description="Reads the controller's JSON log lines from stdin (kubectl logs -f "
        "deploy/continuum | continuum logs) and prints one line per record. Non-JSON "
        "lines pass through unchanged.",
    )
    cmd.add_argument("--continuum", type=_cr_ref, metavar="NS/NAME", help="only this CR")
    cmd.add_argument("--level", choices=list(LEVEL_ORDER), default="debug", help="minimum level")
    cmd.add_argument("--since", metavar="WHEN", help="a duration (10m, 2h) or an ISO time")
    cmd.add_argument("--json", action="store_true", help="print matching lines unchanged")

    sim = sub.add_parser("sim", help="embedded test environment servers")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True, metavar="SERVER")
    cmd = sim_sub.add_parser("kube", help="run the Kubernetes API emulator")
    cmd.add_argument("--port", type=int, required=True, help="listen port (0: a free one)")
    cmd.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    cmd.add_argument(
        "--crd",
        action="append",
        default=[],
        metavar="PATH",
        help="CRD manifest to serve (repeatable; default: the bundled CRDs)",
    )
    cmd.add_argument("--kubeconfig", metavar="PATH", help="where to write a kubeconfig")
    cmd.add_argument("--token", help="require this bearer token")


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
    from continuum.controller import run_controller
    from continuum.heap import tending_heap
    from continuum.lifecycle import run_until_signal
    from continuum.supervisor import SupervisorEscalation

    settings: Settings = args.settings
    if not demo:
        try:
            settings.require_for_run()
        except ConfigError as err:
            print(f"continuum: configuration error: {err}", file=sys.stderr)
            return EXIT_USAGE

    demo_module = _test_environment("continuum_sim.demo") if demo else None
    if demo and demo_module is None:
        return EXIT_USAGE

    async def main() -> int:
        if demo_module is not None:
            workdir = Path(args.workdir) if args.workdir else None
            return int(
                await demo_module.run_demo(
                    scenario=args.scenario, api_port=args.api_port, workdir=workdir
                )
            )
        clock = SystemClock()
        async with tending_heap(clock):
            return await run_controller(settings, clock=clock)

    try:
        return anyio.run(run_until_signal, main)
    except SupervisorEscalation as err:
        print(f"continuum: escalating: {err}", file=sys.stderr)
        return EXIT_ESCALATED


def main(argv: Sequence[str] | None = None, *, terminal: Terminal | None = None) -> int:
    """Run one ``continuum`` command and return its exit code (usage errors exit 2 via
    argparse's ``SystemExit``)."""
    args = build_parser().parse_args(argv)
    if args.command in ("run", "demo"):
        failed = _configure(args)
        if failed is not None:
            return failed
        return _run_main(args, demo=args.command == "demo")
    term = terminal or Terminal.system()
    if args.command == "logs":
        return _logs(args, term)
    if args.command == "sim":
        return _sim(args)
    from continuum.cli.commands import run_api_command

    return run_api_command(args, term)


def _logs(args: argparse.Namespace, term: Terminal) -> int:
    from datetime import UTC, datetime

    from continuum.cli.logview import LogFilter, parse_since, run, tolerant_stdin

    try:
        since = parse_since(args.since, now=datetime.now(UTC)) if args.since else None
    except ValueError as err:
        term.err(f"continuum logs: {err}")
        return EXIT_USAGE
    log_filter = LogFilter(
        continuum="/".join(args.continuum) if args.continuum else None,
        min_level=args.level,
        since=since,
    )
    stdin = tolerant_stdin() if term.stdin is sys.stdin else term.stdin
    try:
        run(stdin, term.stdout, log_filter, raw_json=args.json)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _test_environment(module: str) -> ModuleType | None:
    """Import a module of the test environment (``continuum_sim``), which the product never
    imports otherwise; when it is not installed, say so in one line and return None."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is None or err.name.split(".")[0] != "continuum_sim":
            raise
        print(
            "continuum: the test environment (package continuum_sim) is not installed;"
            " `continuum demo` and `continuum sim` need it",
            file=sys.stderr,
        )
        return None


def _sim(args: argparse.Namespace) -> int:
    kube_main = _test_environment("continuum_sim.kube.main")
    if kube_main is None:
        return EXIT_USAGE
    return int(
        kube_main.serve(
            args.host,
            args.port,
            args.crd or None,
            kubeconfig=args.kubeconfig,
            token=args.token,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
