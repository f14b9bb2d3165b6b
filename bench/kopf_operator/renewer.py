"""The peer for ``bench/kopf_peer.py``: Continuum's lease job written as a small kopf operator.

One kopf timer per Continuum CR (interval ``renewSeconds`` = 10 s, ``sharp`` so ticks are
anchored to a schedule like Continuum's repeating timer). Each tick renews the CR's writer
lease at the ``nats-kv`` witness through :mod:`continuum.witness.nats_kv` — the same client
library, slot key (``<namespace>/<name>``), TTL and compare-and-set as the controller — and
acquires it on the first tick or after a lost lease. Lease state goes to the CR status with
the controller's rule (``leaseHolder``/``leaseExpiresAt``/``leaseGeneration`` written when
the stored expiry is less than half a TTL away), so the Kubernetes API sees the same writes.

Settings come from the environment, set by the benchmark:

* ``BENCH_NATS_URL`` (required), ``BENCH_BUCKET`` (default ``continuum-leases``);
* ``BENCH_REGION`` (default ``region-a``), ``BENCH_TTL`` (30), ``BENCH_INTERVAL`` (10);
* ``BENCH_CONNECTIONS``: ``per-cr`` (default: one NATS connection per CR, as the
  controller's witness factory opens them) or ``shared`` (one for the process — what a
  hand-written kopf operator would more likely do).

kopf is given its quietest fair configuration: k8s Event posting off, and ``--quiet`` on the
command line. Run: ``kopf run --standalone -n NS bench/kopf_operator/renewer.py``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import kopf

from continuum.clock import SystemClock
from continuum.errors import LeaseLost, WitnessError
from continuum.witness.nats_kv import NatsKvWitness, open_nats_kv

URL = os.environ.get("BENCH_NATS_URL", "")
BUCKET = os.environ.get("BENCH_BUCKET", "continuum-leases")
REGION = os.environ.get("BENCH_REGION", "region-a")
TTL = float(os.environ.get("BENCH_TTL", "30"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "10"))
SHARED = os.environ.get("BENCH_CONNECTIONS", "per-cr") == "shared"
CLOCK = SystemClock()


async def _open() -> NatsKvWitness:
    # The arguments the controller's witness factory uses (timeout 5 s, skew margin 1 s).
    return await open_nats_kv(URL, clock=CLOCK, bucket=BUCKET, timeout=5.0, skew_margin=1.0)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    if not URL:
        raise kopf.PermanentError("BENCH_NATS_URL is not set")
    settings.posting.enabled = False
    if SHARED:
        memo.shared_witness = await _open()


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    if SHARED and "shared_witness" in memo:
        await memo.shared_witness.aclose()


@kopf.timer("dr.openova.io", "v1", "continuums", id="renew", interval=INTERVAL, sharp=True)
async def renew(
    *,
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    patch: kopf.Patch,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    witness: NatsKvWitness | None = memo.get("shared_witness") or memo.get("witness")
    if witness is None:
        witness = memo.witness = await _open()
    key = f"{namespace}/{name}"  # the controller's slot key for the CR
    try:
        lease = memo.get("lease")
        if lease is None:
            lease = await witness.acquire(key, REGION, TTL)
        else:
            try:
                lease = await witness.renew(lease)
            except LeaseLost:
                lease = await witness.acquire(key, REGION, TTL)
    except WitnessError as error:
        # As the controller does: keep what is held, say so, try again at the next tick.
        logger.warning(f"witness unavailable: {error}")
        return
    memo.lease = lease
    written: datetime | None = memo.get("written_expires_at")
    now = CLOCK.now()
    if lease.expires_at is not None and (
        written is None or (written - now).total_seconds() < TTL / 2
    ):
        patch.status["leaseHolder"] = lease.holder
        patch.status["leaseExpiresAt"] = lease.expires_at.isoformat().replace("+00:00", "Z")
        patch.status["leaseGeneration"] = lease.generation
        memo.written_expires_at = lease.expires_at
