"""``continuum demo`` and ``continuum sim`` are the only commands that use the test environment
(``continuum_sim``); where it is not installed (the controller image) they fail with one clear
line, and every other command is unaffected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from continuum.cli.exits import EXIT_USAGE

# Blocks the package as if it were not installed: an import of it raises ModuleNotFoundError.
_WITHOUT_SIM = (
    "import sys; sys.modules['continuum_sim'] = None; "
    "from continuum.cli.entry import main; sys.exit(main(sys.argv[1:]))"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_SIM, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [("demo",), ("sim", "kube", "--port", "0")])
def test_a_command_that_needs_the_test_environment_says_it_is_not_installed(
    args: tuple[str, ...],
) -> None:
    done = _run(*args)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "continuum: the test environment (package continuum_sim) is not installed;"
        " `continuum demo` and `continuum sim` need it"
    ]


def test_the_product_commands_work_without_the_test_environment() -> None:
    done = _run("run", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: continuum run" in done.stdout
