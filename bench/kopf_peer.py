"""Side by side with a peer: Continuum and a kopf operator doing the same lease job.

The job: one lease renewal loop per Continuum CR (renew every 10 s, TTL 30 s) at the
``nats-kv`` witness, lease state written to the CR status when the stored expiry is less than
half a TTL away. Continuum does it with ``continuum run``; the peer is a small kopf operator
(``bench/kopf_operator/renewer.py``: one kopf timer per CR, ``sharp``, interval 10 s) using
:mod:`continuum.witness.nats_kv` as its client library, so the witness work is identical.

Both run in this one invocation, one after the other (never at once: they would share the
two cores), against the same emulator process and the same nats-server, each over its own
namespace of ``--crs`` identical CRs, each through the same measurement as ``bench/scale.py``
(baseline RSS with one CR, the rest created over HTTP, a ``--seconds`` window after every
lease is acquired, every renewal seen on the bucket's subjects). Both log at warning level;
kopf posts no Kubernetes Events.

The kopf operator runs twice by default: with one NATS connection per CR (``per-cr``: what
the controller's witness factory opens, so the client work is identical) and with one shared
connection (``shared``: what a hand-written kopf operator would more likely do).

    .venv/bin/python bench/kopf_peer.py                        # 1,000 CRs, 120 s each
    .venv/bin/python bench/kopf_peer.py --crs 200 --seconds 30 --kopf-connections shared

``--what-if`` adds a second Continuum run with kubernetes-asyncio's HTTP session made without
``trust_env`` (see ``_harness.run_probed``): what the controller would cost without that
per-request overhead. It is a diagnosis, not the product.

Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from _harness import (
    BUCKET,
    REGION,
    Emulator,
    RenewLog,
    Result,
    continuum_command,
    lease_client,
    measure,
    pct,
    watch_bucket,
)

from continuum_sim.nats import NatsServer

RENEWER = Path(__file__).resolve().parent / "kopf_operator" / "renewer.py"


def kopf_command(
    kubeconfig: Path, namespace: str, nats_url: str, *, connections: str
) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "BENCH_NATS_URL": nats_url,
        "BENCH_BUCKET": BUCKET,
        "BENCH_REGION": REGION,
        "BENCH_TTL": "30",
        "BENCH_INTERVAL": "10",
        "BENCH_CONNECTIONS": connections,
    }
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "--quiet"]
    return [*argv, "--namespace", namespace, str(RENEWER)], env


def comparison(ours: Result, peer: Result) -> list[str]:
    ours_p99 = pct(sorted(ours.lateness), 0.99) * 1000
    peer_p99 = pct(sorted(peer.lateness), 0.99) * 1000
    return [
        f"ratio {peer.name} / {ours.name}:"
        f" CPU x{peer.cpu_pct / max(ours.cpu_pct, 1e-9):.2f},"
        f" RSS x{peer.rss_mib / ours.rss_mib:.2f},"
        f" RSS per CR x{peer.rss_per_cr_kib / max(ours.rss_per_cr_kib, 1e-9):.2f}",
        f"ratio {ours.name} / {peer.name}:"
        f" CPU x{ours.cpu_pct / max(peer.cpu_pct, 1e-9):.2f},"
        f" RSS x{ours.rss_mib / peer.rss_mib:.2f};"
        f" renew lateness p99 {ours_p99:.1f} vs {peer_p99:.1f} ms;"
        f" all leases acquired after {ours.acquire_s:.1f} vs {peer.acquire_s:.1f} s;"
        f" CR writes per CR per 5 min {ours.writes_per_cr_per_5min:.3f}"
        f" vs {peer.writes_per_cr_per_5min:.3f}",
    ]


async def main(args: argparse.Namespace) -> None:
    kinds = ["per-cr", "shared"] if args.kopf_connections == "both" else [args.kopf_connections]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        workdir = Path(tmp)
        emulator = Emulator.start(workdir)
        try:
            async with NatsServer(workdir / "nats") as server:
                client = lease_client("nats-kv", server.url, ttl=30, renew=10)
                runs: list[tuple[str, str, tuple[list[str], dict[str, str]]]] = [
                    (
                        "continuum",
                        "peer-continuum",
                        continuum_command(emulator.kubeconfig, "peer-continuum"),
                    )
                ]
                if args.what_if:
                    what_if = continuum_command(
                        emulator.kubeconfig, "peer-what-if", trust_env=False
                    )
                    runs.append(("continuum (what-if: trust_env off)", "peer-what-if", what_if))
                for kind in kinds:
                    ns = f"peer-kopf-{kind}"
                    command = kopf_command(emulator.kubeconfig, ns, server.url, connections=kind)
                    runs.append((f"kopf ({kind} connection)", ns, command))
                for name, ns, command in runs:

                    def observe(log: RenewLog, ns: str = ns) -> Any:
                        return watch_bucket(server.url, log, namespace=ns)

                    result = await measure(
                        name,
                        emulator=emulator,
                        namespace=ns,
                        command=command,
                        client=client,
                        crs=args.crs,
                        seconds=args.seconds,
                        observe=observe,
                        workdir=workdir,
                        profile_dir=args.profile,
                    )
                    print("\n".join(result.lines()), flush=True)
                    results.append(result)
        finally:
            emulator.stop()
    for peer in results[1:]:
        if peer.name.startswith("kopf"):
            print("\n".join(comparison(results[0], peer)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120.0, help="measured window, each")
    parser.add_argument("--kopf-connections", choices=["per-cr", "shared", "both"], default="both")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="also run Continuum with kubernetes-asyncio's trust_env off (not the product)",
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy each window into DIR (collapsed)"
    )
    asyncio.run(main(parser.parse_args()))
