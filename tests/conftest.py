"""Shared fixtures. Feature suites add their own conftest under their folder."""

from __future__ import annotations

import pytest

from continuum.clock import FakeClock


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run anyio tests on both backends. Suites that use asyncio-only libraries override
    this fixture with ``asyncio`` alone."""
    return str(request.param)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
