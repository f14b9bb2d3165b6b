"""Fixtures of the real-PostgreSQL suite: asyncpg is asyncio-only, so the backend is pinned."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def pg_root() -> Iterator[Path]:
    """A fresh directory the ``postgres`` OS user may write (the servers run as it under
    root; pytest's own temp directories are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="continuum-test-pg-"))
    if os.geteuid() == 0:
        root.chmod(0o755)
        shutil.chown(root, "postgres", "postgres")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
