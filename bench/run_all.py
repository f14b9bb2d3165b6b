"""Run every benchmark under ``bench/`` and write ``docs/benchmarks.md``.

Each ``bench/*.py`` script (this one and ``_``-prefixed helpers excepted) runs as its own
process, one after the other, with the arguments below — quick ones by default, the
documented full ones with ``--full`` (a script not listed runs with its own defaults either
way). Its output goes verbatim into the document under the command that reproduces it, with
when it ran and the load average at its start, after the machine's details (CPU model,
cores, RAM, Python): the figures are only comparable on an otherwise idle machine.

``--only NAME`` (repeatable) reruns some benchmarks and keeps the other sections of the
existing document. Whatever stands between ``<!-- analysis:begin -->`` and
``<!-- analysis:end -->`` in the document is written by hand and kept as is.

    .venv/bin/python bench/run_all.py            # quick: a few minutes
    .venv/bin/python bench/run_all.py --full     # the documented figures: ~25 minutes
    .venv/bin/python bench/run_all.py --full --only kopf_peer

Not part of CI; asserts nothing (a failing benchmark is recorded with its exit code).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOC = ROOT / "docs" / "benchmarks.md"
HELPERS = frozenset({"run_all"})
TIMEOUT_S = 1800

# name → (quick runs, full runs); each run is one argument list.
RUNS: dict[str, tuple[list[list[str]], list[list[str]]]] = {
    "actors": ([["--actors", "2000", "--asks", "5000"]], [[]]),
    "watch": ([["--count", "300"]], [[]]),
    "lease": ([["--loops", "200", "--seconds", "10"]], [[]]),
    "audit": ([["--events", "5000", "--duration", "6", "--outage", "2"]], [[]]),
    "api": ([["--seconds", "5", "--warmup", "1"]], [[]]),
    "scale": (
        [
            ["--crs", "1000", "--seconds", "30"],
            ["--crs", "300", "--seconds", "30", "--witness", "nats-kv"],
        ],
        [[], ["--crs", "1000", "--witness", "nats-kv"]],
    ),
    "kopf_peer": ([["--crs", "200", "--seconds", "30"]], [["--what-if"]]),
    "dryrun": ([["--uncached", "50", "--cached", "300"]], [[]]),
    "switchover": ([["--runs", "10"]], [[]]),
    "writes": ([["--planned", "3", "--failovers", "1"]], [[]]),
    "patroni_peer": ([["--planned", "3", "--failovers", "1"]], [[]]),
}
ORDER = [
    "actors",
    "watch",
    "lease",
    "audit",
    "api",
    "dryrun",
    "switchover",
    "writes",
    "scale",
    "kopf_peer",
    "patroni_peer",
]

_SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /bench -->\n", re.S)
_ANALYSIS = re.compile(r"<!-- analysis:begin -->\n.*?<!-- analysis:end -->\n", re.S)


@dataclass
class Outcome:
    name: str
    command: str
    code: int
    seconds: float
    output: str
    started: str
    load: str


def discover() -> list[str]:
    """Every benchmark script: listed ones in ``ORDER`` first, then any other, by name."""
    found = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")} - HELPERS
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def summary_line(name: str) -> str:
    """The first sentence of the script's docstring, on one line."""
    doc = ast.get_docstring(ast.parse((BENCH / f"{name}.py").read_text())) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]


def run_one(name: str, args: list[str]) -> Outcome:
    command = f".venv/bin/python bench/{name}.py {' '.join(args)}".rstrip()
    print(f"--> {command}", flush=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        code, output = done.returncode, done.stdout
        if done.returncode != 0:
            output += "\n" + "\n".join(done.stderr.strip().splitlines()[-15:])
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        code, output = -1, f"{partial}\n(timed out after {TIMEOUT_S} s)"
    seconds = time.monotonic() - started
    print(output, flush=True)
    return Outcome(name, command, code, seconds, output.strip("\n").rstrip(), when, load)


def machine() -> list[str]:
    model = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for tool in (["nats-server", "--version"], [sys.executable, "-m", "kopf", "--version"]):
        with contextlib.suppress(OSError):
            versions.append(subprocess.run(tool, capture_output=True, text=True).stdout.strip())
    return [
        f"- CPU: {model}, {os.cpu_count()} cores",
        f"- RAM: {psutil.virtual_memory().total / 2**30:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- Tools: {'; '.join(v for v in versions if v)}",
    ]


def render(outcome: Outcome) -> str:
    status = "" if outcome.code == 0 else f" — **exit code {outcome.code}**"
    return (
        f"```\n$ {outcome.command}\n```\n\n"
        f"```\n{outcome.output}\n```\n\n"
        f"(ran {outcome.started} for {outcome.seconds:.0f} s; load average 1/5/15 min at its"
        f" start: {outcome.load}{status})\n\n"
    )


def write_doc(sections: dict[str, str], *, full: bool, analysis: str) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmarks\n\n",
        "Generated by `bench/run_all.py` (the analysis between the markers is written by hand\n"
        "and kept; the rest is rewritten on every run). Figures are printed by the scripts,\n"
        "never asserted, and not part of CI. Reproduce everything from the repository root with\n"
        f"`make bench{' ARGS=--full' if full else ''}` (it installs the project's own `.venv`"
        " first), or one\nbenchmark with the command shown above its output (run from the "
        "repository root,\nafter `make venv`).\n\n",
        f"Last written: {when}, commit `{commit}`, {'full' if full else 'quick'} arguments"
        " (sections\nnot rerun by `--only` keep their own run time).\n\n",
        "## Machine\n\n",
        "\n".join(machine()) + "\n\n",
        analysis or "<!-- analysis:begin -->\n<!-- analysis:end -->\n",
        "\n## Figures\n\n",
    ]
    for name in discover():
        if name in sections:
            parts.append(f"<!-- bench:{name} -->\n{sections[name]}<!-- /bench -->\n\n")
    DOC.write_text("".join(parts).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the documented (long) arguments")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these")
    args = parser.parse_args()
    old = DOC.read_text() if DOC.exists() else ""
    sections = {m["name"]: m["body"] for m in _SECTION.finditer(old)}
    analysis_match = _ANALYSIS.search(old)
    names = discover()
    unknown = set(args.only or ()) - set(names)
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))} (have {', '.join(names)})")
    for name in args.only or names:
        quick, full = RUNS.get(name, ([[]], [[]]))
        outcomes = [run_one(name, run) for run in (full if args.full else quick)]
        body = f"### {name}: {summary_line(name)}\n\n" + "".join(render(o) for o in outcomes)
        sections[name] = body
        write_doc(sections, full=args.full, analysis=analysis_match[0] if analysis_match else "")
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
