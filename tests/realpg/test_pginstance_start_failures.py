"""PostgreSQL failing to start says why in one line, and never hangs: a port taken (given
explicitly), no binaries, a full disk. A port taken behind the launcher's back (chosen, then
bound by someone else before postgres starts) is detected from the server's log and another
port is used."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from continuum_sim.pginstance import PgInstance
from continuum_sim.postgres import PostgresError

pytestmark = pytest.mark.anyio


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


def _listener(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


@pytest.fixture(scope="module")
async def stopped(pg_root: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Path]:
    """A data directory ``pg_root/a`` made by ``initdb`` once for the module, stopped; the
    tests start it again under the conditions they set."""
    inst = PgInstance(name="a", root=pg_root, logdir=tmp_path_factory.mktemp("logs"))
    await inst.init_primary()
    await inst.stop()
    yield pg_root
    await inst.close()


async def test_a_taken_port_given_explicitly_is_named(stopped: Path, tmp_path: Path) -> None:
    with _listener() as taken:
        port = taken.getsockname()[1]
        inst = PgInstance(name="a", root=stopped, logdir=tmp_path, port=port)
        with anyio.fail_after(30), pytest.raises(PostgresError) as caught:
            await inst.start()
    assert _one_line(caught.value) == f"postgres a: port 127.0.0.1:{port} is already in use"
    assert not inst.running


async def test_a_chosen_port_taken_before_the_bind_moves_to_another(
    stopped: Path, tmp_path: Path
) -> None:
    inst = PgInstance(name="a", root=stopped, logdir=tmp_path)
    chosen = inst.port
    with _listener(chosen):  # someone takes the port between choosing and binding
        try:
            await inst.start()
            assert inst.port != chosen
            assert await inst.fetchval("SELECT current_setting('port')::int") == inst.port
            assert "Address already in use" in (tmp_path / "a.log").read_text()
        finally:
            await inst.process.stop()


async def test_no_binaries_is_one_line(pg_root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    inst = PgInstance(name="b", root=pg_root, logdir=tmp_path / "logs", bindir=empty)
    with pytest.raises(PostgresError) as caught:
        await inst.init_primary()
    assert _one_line(caught.value) == f"no PostgreSQL server binaries in {empty}"


@pytest.fixture
def full_disk(pg_root: Path) -> Iterator[Path]:
    """A 6 MB tmpfs (too small for a data directory), owned by ``postgres``."""
    mount = pg_root / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        subprocess.run(["chown", "postgres:postgres", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_is_named(full_disk: Path, tmp_path: Path) -> None:
    inst = PgInstance(name="a", root=full_disk, logdir=tmp_path / "logs")
    try:
        with anyio.fail_after(60), pytest.raises(PostgresError) as caught:
            await inst.init_primary()
    finally:
        await inst.close()
    assert _one_line(caught.value) == "initdb a: no space left on the device"
