"""A standalone API load generator (its own process, so it does not share the test's event
loop with the emulators): ``python -m tests.reliability.loadgen URL TOKEN SECONDS
CONCURRENCY NAMESPACE NAME TO_REGION`` prints one JSON line of figures.

Each worker loops over a fixed mix: the CR summary (an actor ``ask``), a DryRun (an actor
``ask`` computing the plan), and ``/healthz`` (no actor).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import httpx


async def main(
    url: str, token: str, seconds: float, concurrency: int, ns: str, name: str, to: str
) -> dict[str, object]:
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    headers = {"X-Catalyst-Owner-Tier": "true", "Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=limits
    ) as client:

        async def worker(offset: int) -> None:
            i = offset
            while time.monotonic() < end:
                kind = i % 5
                i += 1
                started = time.monotonic()
                try:
                    if kind in (0, 1):
                        r = await client.get(f"/v1/continuums/{ns}/{name}")
                    elif kind in (2, 3):
                        r = await client.post(
                            f"/v1/continuums/{ns}/{name}/dry-run", json={"toRegion": to}
                        )
                    else:
                        r = await client.get("/healthz")
                    statuses[str(r.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "seconds": seconds,
        "concurrency": concurrency,
        "rps": round(n / seconds, 1),
        "statuses": dict(statuses),
        "p50_ms": round(latencies[n // 2] * 1000, 1) if n else None,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 1) if n else None,
    }


if __name__ == "__main__":
    url, token, seconds, concurrency, ns, name, to = sys.argv[1:8]
    result = asyncio.run(main(url, token, float(seconds), int(concurrency), ns, name, to))
    print(json.dumps(result), flush=True)
