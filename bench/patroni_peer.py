"""The peer, side by side: the same two-instance PostgreSQL 15 setup managed by Patroni, the
same write workload and checker, the same events — and Continuum's figures from the same run.

Patroni (PyPI ``patroni[etcd3]``, installed by this script into its own virtualenv under
``/var/tmp``, since the ``postgres`` OS user must be able to run it) with Debian's
``etcd-server`` as its DCS (``apt-get install etcd-server`` when ``etcd`` is missing), one
etcd and two Patroni nodes on loopback, ``ttl`` 10 s / ``loop_wait`` 2 s / ``retry_timeout``
3 s (Continuum: lease TTL 10 s, renew 2 s, 2 unreachable observations), ``use_pg_rewind``.

* planned switchover: ``POST /switchover`` on the leader's REST API, back and forth;
* unplanned failover: the leader's region is lost — its Patroni and its postmaster are
  SIGKILLed; the other node takes the leader key when it expires and promotes; the lost node
  is then started again and rejoins (``pg_rewind``) before the next failover, which goes the
  other way.

Write pause = the longest gap between two acknowledged writes around the event. Prints, for
each manager and kind: p50 / p99 / max pause, acknowledged writes lost, split-brain writes
(for Patroni: acknowledgements on a timeline another node also wrote — the checker's timeline
rule; Patroni reports no transitions), and the ratio Continuum / Patroni of the p50 pauses.
Asserts nothing.

    python bench/patroni_peer.py [--planned 10] [--failovers 3] [--skip-continuum]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.writes import Figures, measure_continuum, pct, quiet_logs, until, window_pause
from continuum.clock import SystemClock
from continuum_sim.postgres import find_bindir
from continuum_sim.process import ManagedProcess, candidate_port
from continuum_sim.workload import WriteWorkload
from continuum_sim.writecheck import WRITES_TABLE, check, read_final

VENV = Path("/var/tmp/continuum-patroni-venv")
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 3
A, B = "region-a", "region-b"


def ensure_installed() -> Path:
    """The ``patroni`` executable (installing it and etcd when missing)."""
    patroni = VENV / "bin" / "patroni"
    if not patroni.exists():
        print("installing patroni[etcd3] into", VENV, flush=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "patroni[etcd3]", "psycopg[binary]"],
            check=True,
        )
    if shutil.which("etcd") is None:
        print("installing etcd-server (apt)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "etcd-server"], check=True)
    return patroni


class PatroniPair:
    """etcd + one Patroni node per region, on loopback, under ``root`` (owned by postgres)."""

    def __init__(self, root: Path, patroni: Path) -> None:
        self.root = root
        self.patroni = patroni
        self.etcd_port = candidate_port()
        self.etcd = ManagedProcess(name="etcd", log_path=root / "etcd.log", error=RuntimeError)
        self.api = {r: candidate_port() for r in (A, B)}
        self.pg = {r: candidate_port() for r in (A, B)}
        self.nodes = {
            r: ManagedProcess(
                name=f"patroni {r}",
                log_path=root / f"patroni-{r}.log",
                error=RuntimeError,
                stop_timeout=30,
            )
            for r in (A, B)
        }

    def dsns(self) -> dict[str, str]:
        return {
            r: f"postgresql://postgres@127.0.0.1:{p}/postgres?sslmode=disable"
            for r, p in self.pg.items()
        }

    async def start(self) -> None:
        peer = candidate_port()
        await self.etcd.spawn(
            [
                "etcd", "--name", "bench", "--data-dir", str(self.root / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
            ]
        )  # fmt: skip
        await self.etcd.wait_ready(self._etcd_up, timeout=30, interval=0.1)
        for region in (A, B):
            self._write_config(region)
        await self.start_node(A)
        await self.wait_role(A, "primary")
        await self._create_table()
        await self.start_node(B)
        await self.wait_role(B, "replica")

    async def stop(self) -> None:
        for node in self.nodes.values():
            await node.stop()
        for region in (A, B):
            await self._kill_postmaster(region)
        await self.etcd.stop()

    async def _etcd_up(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                answer = await client.get(f"http://127.0.0.1:{self.etcd_port}/health")
            return answer.status_code == 200
        except httpx.HTTPError:
            return False

    def _write_config(self, region: str) -> None:
        data = self.root / f"data-{region}"
        sockets = self.root / f"sock-{region}"
        sockets.mkdir(exist_ok=True)
        shutil.chown(sockets, "postgres", "postgres")
        config = {
            "scope": "bench",
            "name": region,
            "namespace": "/continuum-bench/",
            "restapi": {
                "listen": f"127.0.0.1:{self.api[region]}",
                "connect_address": f"127.0.0.1:{self.api[region]}",
            },
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 16 * 1024 * 1024,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "wal_level": "replica",
                            "wal_log_hints": "on",
                            "max_wal_senders": 5,
                            "fsync": "off",
                            "wal_keep_size": "256MB",
                            "wal_receiver_status_interval": "1s",
                            "wal_retrieve_retry_interval": "100ms",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg[region]}",
                "connect_address": f"127.0.0.1:{self.pg[region]}",
                "data_dir": str(data),
                "bin_dir": str(find_bindir()),
                "pgpass": str(self.root / f"pgpass-{region}"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "bench"},
                    "replication": {"username": "replicator", "password": "bench"},
                    "rewind": {"username": "postgres", "password": "bench"},
                },
                "parameters": {
                    "unix_socket_directories": str(sockets),
                    "shared_buffers": "16MB",
                },
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication replicator 127.0.0.1/32 trust",
                ],
            },
        }
        path = self.root / f"patroni-{region}.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        shutil.chown(path, "postgres", "postgres")

    async def start_node(self, region: str) -> None:
        await self.nodes[region].stop()
        await self.nodes[region].spawn(
            [str(self.patroni), str(self.root / f"patroni-{region}.yml")],
            user="postgres",
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.root)},
        )

    async def role(self, region: str) -> str:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                answer = await client.get(f"http://127.0.0.1:{self.api[region]}/patroni")
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            return ""
        if body.get("state") != "running":
            return ""
        return str(body.get("role", ""))

    async def wait_role(self, region: str, role: str, timeout: float = 120) -> None:
        async def reached() -> bool:
            return await self.role(region) == role

        await until(reached, timeout=timeout, what=f"{region} {role}")

    async def _create_table(self) -> None:
        conn = await asyncpg.connect(self.dsns()[A])
        try:
            # which instance accepted a write: its port (a per-database setting would be
            # replicated along with the data)
            await conn.execute(
                f"CREATE TABLE {WRITES_TABLE} (seq bigint PRIMARY KEY,"
                " region text NOT NULL DEFAULT inet_server_port()::text,"
                " at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        finally:
            await conn.close()

    def region_of_port(self, port: str) -> str:
        return next(r for r, p in self.pg.items() if str(p) == port)

    async def switchover(self, leader: str, candidate: str) -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            answer = await client.post(
                f"http://127.0.0.1:{self.api[leader]}/switchover",
                json={"leader": leader, "candidate": candidate},
            )
        if answer.status_code != 200:
            raise AssertionError(f"patroni switchover: {answer.status_code} {answer.text}")

    async def lose(self, region: str) -> None:
        """Region loss: SIGKILL Patroni and the postmaster."""
        await self.nodes[region].kill()
        await self._kill_postmaster(region)

    async def _kill_postmaster(self, region: str) -> None:
        pidfile = self.root / f"data-{region}" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        await until(lambda: not _alive(pid), timeout=10, what=f"postmaster {pid} gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z " not in stat.read_text()


async def measure_patroni(*, planned_runs: int, failovers: int, root: Path) -> dict[str, Figures]:
    pair = PatroniPair(root, ensure_installed())
    out = {"planned": Figures(), "failover": Figures()}
    windows: list[tuple[str, int, int]] = []
    try:
        await pair.start()
        workload = WriteWorkload(pair.dsns, clock=SystemClock())
        async with workload.running():
            leader = A
            for kind in ["planned"] * planned_runs + ["failover"] * failovers:
                await workload.wait_acks(50, timeout=60)
                start = len(workload.acks)
                other = B if leader == A else A
                try:
                    if kind == "planned":
                        await pair.switchover(leader, other)
                    else:
                        await pair.lose(leader)
                    await until(
                        lambda o=other: pair.region_of_port(workload.acks[-1].region) == o,
                        timeout=120,
                        what="writes on the other node",
                    )
                    await workload.wait_acks(20, timeout=60)
                    if kind == "failover":
                        await pair.start_node(leader)
                        await pair.wait_role(leader, "replica")
                    else:
                        await pair.wait_role(leader, "replica")
                except (AssertionError, TimeoutError) as exc:
                    print(f"  patroni {kind} run failed: {exc!r}", flush=True)
                    out[kind].failed += 1
                    leader = A if await pair.role(A) == "primary" else B
                    continue
                leader = other
                out[kind].pauses.append(window_pause(workload.acks, start))
                windows.append((kind, workload.acks[max(0, start - 1)].seq, workload.acks[-1].seq))
                print(f"  patroni {kind}: pause {out[kind].pauses[-1] * 1000:.0f} ms", flush=True)
        final = await read_final(pair.dsns()[leader])
        report = check(workload.acks, final, [], sent=workload.sent)
        print(f"  Patroni overall: {report.summary()}", flush=True)
        for kind, first, last in windows:
            out[kind].lost += sum(1 for s in report.lost if first <= s <= last)
        out["planned"].split_brain = out["failover"].split_brain = len(report.timeline_anomalies)
    finally:
        with anyio.CancelScope(shield=True):
            await pair.stop()
    return out


def ratio(ours: Figures, theirs: Figures) -> str:
    if not ours.pauses or not theirs.pauses:
        return "n/a"
    return f"{pct(ours.pauses, 50) / pct(theirs.pauses, 50):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planned", type=int, default=10)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--skip-continuum", action="store_true")
    args = parser.parse_args()
    quiet_logs()
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="continuum-bench-patroni-"))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    try:
        theirs = anyio.run(
            lambda: measure_patroni(planned_runs=args.planned, failovers=args.failovers, root=root)
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ours: dict[str, Figures] = {"planned": Figures(), "failover": Figures()}
    if not args.skip_continuum:
        with tempfile.TemporaryDirectory(prefix="continuum-bench-writes-") as tmp:
            ours = anyio.run(
                lambda: measure_continuum(
                    planned_runs=args.planned,
                    failovers=args.failovers,
                    ttl=TTL,
                    renew=LOOP_WAIT,
                    workdir=Path(tmp),
                )
            )
    print(theirs["planned"].line("Patroni   planned switchover"))
    print(ours["planned"].line("Continuum planned switchover"))
    print(
        f"planned write pause p50, Continuum / Patroni: {ratio(ours['planned'], theirs['planned'])}"
    )
    print(theirs["failover"].line(f"Patroni   unplanned failover (ttl {TTL}s)"))
    print(ours["failover"].line(f"Continuum unplanned failover (ttl {TTL}s)"))
    failover_ratio = ratio(ours["failover"], theirs["failover"])
    print(f"failover write pause p50, Continuum / Patroni: {failover_ratio}")
    print(f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
