"""Fixtures of the chart suite: the bp-continuum chart loaded and rendered for real with the
Helm SDK (helm-python-sdk, no helm binary)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import helm_python as helm
import pytest
from chart_support import CHART_DIR, ENABLED_VALUES, Rendered, merge, render_chart


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Callable[[dict[str, Any]], Rendered]:
    """Render the chart with the given values (see ``chart_support.render_chart``)."""
    return lambda values: render_chart(chart, values)


@pytest.fixture(scope="session")
def enabled_with() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Build values: the minimal enabled values with ``override`` deep-merged on top."""
    return lambda override: merge(ENABLED_VALUES, override)
