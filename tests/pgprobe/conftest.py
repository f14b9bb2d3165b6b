"""Fixtures of the replication-probe suite: a real PostgreSQL primary + streaming standby.

asyncpg is asyncio-only, so this suite pins the asyncio backend. The pair is module-scoped
(about a second to create) — never session-scoped: a session-wide asyncio runner would be
shared with the trio tests of other suites on the same worker. ``anyio_backend`` is
therefore module-scoped here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from continuum_sim.postgres import PostgresPair
from tests.pgprobe.pg_certs import Certs, make_certs


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
async def pg(tmp_path_factory: pytest.TempPathFactory, certs: Certs) -> AsyncIterator[PostgresPair]:
    """Primary + streaming standby ``demo-replica``, server TLS on (clients may disable it).

    Tests that change the pair (pause replay, stop a server) put it back before they end.
    """
    async with PostgresPair(
        tmp_path_factory.mktemp("pg"), name="demo", tls=(certs.server_crt, certs.server_key)
    ) as pair:
        yield pair
