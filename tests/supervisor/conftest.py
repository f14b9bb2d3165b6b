"""Runtime logs are captured (not rendered) during these tests, and can be asserted on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs


@pytest.fixture(autouse=True)
def runtime_logs() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event of the test, as dicts (crash logs carry ``exc_info``)."""
    with capture_logs() as logs:
        yield logs
