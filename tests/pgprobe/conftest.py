"""Fixtures of the replication-probe suite: a real PostgreSQL primary + streaming standby.

asyncpg is asyncio-only, so this suite pins the asyncio backend. The pair is module-scoped
(about a second to create) — never session-scoped: a session-wide asyncio runner would be
shared with the trio tests of other suites on the same worker. ``anyio_backend`` is
therefore module-scoped here too.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from continuum.sim.postgres import PostgresPair


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Certs:
    """A CA, a server and a client certificate it signed (server SAN IP:127.0.0.1), and an
    unrelated CA."""

    ca_pem: str
    other_ca_pem: str
    server_crt: Path
    server_key: Path
    client_crt_pem: str
    client_key_pem: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_ca(cwd: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    cwd = tmp_path_factory.mktemp("certs")
    _make_ca(cwd, "ca")
    _make_ca(cwd, "other-ca")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=cwd,
    )  # fmt: skip
    (cwd / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf",
        cwd=cwd,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=continuum_probe",
        cwd=cwd,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "client.crt", "-days", "2",
        cwd=cwd,
    )  # fmt: skip
    return Certs(
        client_crt_pem=(cwd / "client.crt").read_text(),
        client_key_pem=(cwd / "client.key").read_text(),
        ca_pem=(cwd / "ca.crt").read_text(),
        other_ca_pem=(cwd / "other-ca.crt").read_text(),
        server_crt=cwd / "server.crt",
        server_key=cwd / "server.key",
    )


@pytest.fixture(scope="module")
async def pg(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> AsyncIterator[PostgresPair]:
    """Primary + streaming standby ``demo-replica``, server TLS on (clients may disable it).

    Tests that change the pair (pause replay, stop a server) put it back before they end.
    """
    async with PostgresPair(
        tmp_path_factory.mktemp("pg"), name="demo", tls=(certs.server_crt, certs.server_key)
    ) as pair:
        yield pair
