"""The ``latency-normal`` health check's source: the request latency of a region's endpoint.

One HTTP GET per measurement to the URL the CR names for the region
(``spec.health.latencyProbe.urls``); the time to a complete response is the latency. A
non-2xx answer or a transport failure raises, which the check reports as *unknown* (it could
not decide), never as a latency.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from continuum.errors import ContinuumError

__all__ = ["HttpLatencyProbe", "LatencyProbeFailed"]


class LatencyProbeFailed(ContinuumError):
    """The endpoint did not answer with a 2xx (or not at all)."""


class HttpLatencyProbe:
    """Measures ``GET urls[region]``. ``timeout`` bounds each request (real seconds: this is
    a network measurement, not a wait)."""

    def __init__(self, urls: Mapping[str, str], *, timeout: float = 5.0) -> None:
        self._urls = dict(urls)
        self._timeout = timeout

    async def __call__(self, region: str) -> float:
        """Seconds one request to ``region``'s URL took. Raises LatencyProbeFailed."""
        import httpx  # imported at the first measurement: most CRs name no latency probe

        url = self._urls.get(region)
        if url is None:
            raise LatencyProbeFailed(f"no latency probe URL for region {region!r}")
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
            started = time.perf_counter()
            try:
                answer = await client.get(url)
            except httpx.HTTPError as exc:
                raise LatencyProbeFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
            elapsed = time.perf_counter() - started
        if not answer.is_success:
            raise LatencyProbeFailed(f"{url} answered {answer.status_code}")
        return elapsed
