"""What the Containerfile relies on: the project builds as one wheel that installs into a fresh
virtualenv (no source tree, no other site-packages) and gives a working ``continuum`` command
that writes nothing into its installation. No container engine is needed for this."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from chart_support import REPO_ROOT

CONTAINERFILE = REPO_ROOT / "Containerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "continuum"


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment of a container: no virtualenv, no PYTHONPATH, HOME in /tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        HOME=str(tmp),
        TMPDIR=str(tmp),
        PYTHONDONTWRITEBYTECODE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """Build the wheel (``pip wheel --no-deps``) and install it, with its dependencies from the
    package index, into a new virtualenv without pip or system site-packages."""
    root = tmp_path_factory.mktemp("wheel")
    env = _clean_env(root)
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "--no-deps", "-q", "-w", wheels, REPO_ROOT], cwd=root, env=env, timeout=120
    )
    (wheel,) = wheels.glob("continuum-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=root, env=env, timeout=60)
    _run(
        [*pip, "--python", venv / "bin" / "python", "install", "-q", wheel],
        cwd=root,
        env=env,
        timeout=300,
    )
    return InstalledWheel(wheel=wheel, venv=venv)


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_continuum_version_works_from_the_installed_wheel(
    installed: InstalledWheel, tmp_path: Path
) -> None:
    out = _run([installed.command, "--version"], cwd=tmp_path, env=_clean_env(tmp_path), timeout=60)
    assert re.fullmatch(r"continuum \d+\.\d+\.\d+\S*\n", out), out


def test_continuum_run_help_works_from_the_installed_wheel(
    installed: InstalledWheel, tmp_path: Path
) -> None:
    out = _run(
        [installed.command, "run", "--help"], cwd=tmp_path, env=_clean_env(tmp_path), timeout=60
    )
    assert "usage: continuum run" in out


def test_the_installed_package_is_the_wheel_not_the_source_tree(
    installed: InstalledWheel, tmp_path: Path
) -> None:
    python = installed.venv / "bin" / "python"
    out = _run(
        [python, "-c", "import continuum, sys; print(continuum.__file__); print(sys.path)"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        timeout=60,
    )
    module_file = Path(out.splitlines()[0])
    assert installed.venv in module_file.parents
    assert str(REPO_ROOT) not in out.splitlines()[1]
    assert "/work/venv" not in out


def test_the_wheel_carries_the_continuum_crd(installed: InstalledWheel) -> None:
    (crd,) = installed.venv.glob("lib/python*/site-packages/continuum_sim/crds/continuum.yaml")
    assert crd.read_bytes() == (REPO_ROOT / "chart" / "crds" / "continuum.yaml").read_bytes()


def test_running_the_command_writes_nothing_into_its_installation(
    installed: InstalledWheel, tmp_path: Path
) -> None:
    before = _tree(installed.venv)
    env = _clean_env(tmp_path)
    _run([installed.command, "--version"], cwd=tmp_path, env=env, timeout=60)
    _run([installed.command, "run", "--help"], cwd=tmp_path, env=env, timeout=60)
    assert _tree(installed.venv) == before


def _stages(text: str) -> list[list[str]]:
    """Containerfile instructions grouped by stage (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_containerfile_builds_in_one_stage_and_runs_from_slim_python_in_another() -> None:
    text = CONTAINERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    builder, runtime = _stages(text)
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert any(i.startswith("RUN pip wheel") for i in builder)
    assert runtime[0] == "FROM ${PYTHON_IMAGE} AS runtime"
    assert not any(i.startswith(("COPY", "ADD")) for i in runtime), "runtime copies no source"
    install = next(i for i in runtime if "pip install" in i)
    assert "--no-index" in install
    assert "--find-links=/wheels continuum" in install
    assert "shutil.rmtree(pathlib.Path(continuum_sim.__file__).parent)" in install, (
        "the controller image does not ship the test environment"
    )


def test_containerfile_runs_continuum_run_as_uid_10001_without_writing_bytecode() -> None:
    runtime = _stages(CONTAINERFILE.read_text())[-1]
    assert "USER 10001:10001" in runtime
    assert runtime[-2:] == ['ENTRYPOINT ["continuum"]', 'CMD ["run"]']
    env = next(i for i in runtime if i.startswith("ENV "))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "HOME=/tmp" in env


def test_dockerignore_sends_only_what_the_wheel_is_built_from() -> None:
    lines = [line for line in DOCKERIGNORE.read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    assert {line[1:] for line in lines if line.startswith("!")} == {
        "pyproject.toml",
        "README.md",
        "continuum/",
        "continuum_sim/",
        "chart/crds/continuum.yaml",
    }
