"""Test certificates for the probe suite, made with the ``openssl`` CLI (EC P-256, 2 days)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Certs", "make_certs"]


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


def make_certs(cwd: Path) -> Certs:
    """A CA, a server certificate (SAN IP:127.0.0.1) and a client certificate it signed, and
    an unrelated CA, in ``cwd``."""
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
