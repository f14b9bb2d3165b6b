"""Sharding with real processes: three ``continuum run`` replicas of one region share 24 CRs;
one is SIGKILLed while renewing, its CRs renew again on the survivors within one witness TTL
(the region never loses a lease) and no CR is ever run by two replicas; a fourth joins and
takes only its share. Observed from outside only (``continuum_sim/sharding.py``).

And during a switchover (the embedded stack's sample application, two sharded replicas in
region A, region B's controller): the replica running the CR is SIGKILLed, or a replica the
hash gives the CR joins, while the run goes on (see the comment above that test).
CI runs one kill and one join; ``CONTINUUM_RELIABILITY_FULL=1`` runs eight of each
(``CONTINUUM_RELIABILITY_ITERATIONS`` overrides); ``CONTINUUM_RELIABILITY_SEED`` replays a
schedule."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import anyio
import httpx
import pytest

from continuum.leader.assignment import owner
from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig
from continuum_sim.nats import NatsServer
from continuum_sim.sharding import (
    API_TOKEN,
    MEMBER_DEADLINE,
    MEMBER_TTL,
    NAMESPACE,
    REGION,
    WITNESS_RENEW,
    WITNESS_TTL,
    Observed,
    Replica,
    cr_body,
    observing,
    until,
)
from continuum_sim.stack import SimStack, StackSpec
from tests.e2e.helpers import A, B, last_switchover
from tests.reliability.harness import (
    approve_failback,
    assert_stored_once,
    checking,
    controller_env,
    read_lease,
    running_controllers,
    stored_audit_events,
    switch,
    wait_settled,
)

pytestmark = pytest.mark.anyio

CRS = 24


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.timeout(240)
async def test_sigkilled_replica_is_taken_over_within_one_ttl_and_no_cr_runs_twice(
    tmp_path: Path,
) -> None:
    nats_server = NatsServer(tmp_path / "nats")
    await nats_server.start()
    replicas: dict[str, Replica] = {}
    try:
        async with KubeEmulator(region=REGION, crd_paths=bundled_crd_paths()) as kube:
            kube.ensure_namespace(NAMESPACE)
            # region-b (the CRs' standby) only needs a context: the stateless CRs never call it.
            kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {REGION: kube, "region-b": kube})
            for index in range(CRS):
                kube.apply(cr_body(index, nats_server.url))
            keys = {f"{NAMESPACE}/cr-{i:04d}" for i in range(CRS)}
            for name in ("r1", "r2", "r3"):
                replicas[name] = Replica(name, tmp_path, kubeconfig)
            async with observing(nats_server.url, replicas) as seen:
                for replica in replicas.values():
                    await replica.start()

                def partitioned(names: set[str]) -> bool:
                    if not seen.rounds or set(seen.rounds[-1]) != names:
                        return False
                    if not all(seen.rounds[-1].values()):
                        return False  # a replica still waiting for its share
                    owners = seen.owners()
                    return set(owners) == keys and all(len(w) == 1 for w in owners.values())

                await until(lambda: partitioned({"r1", "r2", "r3"}), timeout=60, what="a split")
                # Whichever replica a client reaches answers for every CR: those of its
                # peers are forwarded to the replica that runs them.
                await _every_replica_answers_for_every_cr(replicas, keys)

                # SIGKILL r2 while everything renews.
                orphaned = set(seen.rounds[-1]["r2"])
                killed_at = time.time()
                replicas["r2"].kill()
                await until(lambda: partitioned({"r1", "r3"}), timeout=60, what="a takeover")
                await until(
                    lambda: all(seen.first_write_after(k, killed_at) for k in orphaned),
                    timeout=WITNESS_TTL,
                    what="the orphaned CRs renewing",
                )
                takeover = max(
                    (seen.first_write_after(k, killed_at) or 0.0) - killed_at for k in orphaned
                )

                # A fourth replica joins: only its share moves, all of it to the joiner.
                before = seen.owners()
                replicas["r4"] = Replica("r4", tmp_path, kubeconfig)
                await replicas["r4"].start()
                await until(lambda: partitioned({"r1", "r3", "r4"}), timeout=60, what="a join")
                after = seen.owners()
                moved = [k for k in keys if before[k] != after[k]]
                assert all(after[k] == ["r4"] for k in moved)
                for name in ("r1", "r3", "r4"):
                    await replicas[name].terminate()
    finally:
        for replica in replicas.values():
            replica.kill()
        await nats_server.stop()

    assert not seen.doubles, seen.doubles
    # The witness lease of every CR was renewed at least once per TTL throughout: the region
    # never lost a CR's writer role to the kill.
    gaps = {k: seen.longest_gap(k) for k in keys}
    assert max(gaps.values()) < WITNESS_TTL, gaps
    assert takeover < WITNESS_TTL
    print(
        f"\nsharding: crs={CRS} replicas=3 killed=r2 orphaned={len(orphaned)} "
        f"takeover_s={takeover:.2f} (member TTL {MEMBER_TTL}s, witness TTL {WITNESS_TTL}s, "
        f"renew {WITNESS_RENEW}s) longest_renew_gap_s={max(gaps.values()):.2f} "
        f"joined_moved={len(moved)}/{CRS} rounds={len(seen.rounds)} doubles=0"
    )


async def _every_replica_answers_for_every_cr(replicas: dict[str, Replica], keys: set[str]) -> None:
    headers = {"X-Catalyst-Owner-Tier": "true", "Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(timeout=10.0, headers=headers) as client:
        for name, replica in replicas.items():
            for key in sorted(keys):
                url = f"http://127.0.0.1:{replica.port}/v1/continuums/{key}"
                response = await client.get(url)
                assert response.status_code == 200, (name, key, response.text)
                summary = response.json()
                assert f"{summary['namespace']}/{summary['name']}" == key


# --- during a switchover -------------------------------------------------------------------
#
# Region A runs two sharded ``continuum run`` replicas, region B one plain controller; the
# sample application of the embedded stack (two CNPG Clusters, PowerDNS, HTTPRoutes) is the
# one CR. A planned switchover A → B is confirmed on the replica that runs the CR, and then:
#
# * kill: that replica is SIGKILLed at a seeded random moment of the run (anywhere from "just
#   accepted" to "already finished"); the other replica takes the CR over once the killed
#   one's membership Lease expires (6 s) and resumes or compensates from the journal;
# * join: a replica joins whose identity the rendezvous hash gives the CR (chosen before it
#   starts, so the CR certainly moves to it) at a seeded random moment of the run. What
#   happens, by the rule of docs/sharding.md: the owner stops the CR's actor before it
#   publishes a view without the CR (the run is cancelled between two writes, or at the end
#   of a shielded compensation: the stop waits for it), the journal stays in status, the
#   lease is not released, and the joiner starts the actor only after that publication and
#   resumes or compensates from the journal exactly as after a crash.
#
# Either way, checked throughout from outside: never two Clusters acting as primary, the
# witness lease never taken while live and its generation never back (the invariant
# checker), no CR copy saying Ready=True for longer than STATUS_GRACE while the servers
# disagree with the holder, never the CR listed by two replicas in two consecutive rounds
# (``observing``); once settled: one unfenced primary = lease holder = DNS answer = every
# route's backend, no journal, Ready and Converged, ``lastSwitchover.result`` Succeeded
# exactly when the writer moved. When the writer moved, a plain switchover B → A brings it
# back for the next iteration.

FULL = os.environ.get("CONTINUUM_RELIABILITY_FULL") == "1"
KILLS = int(os.environ.get("CONTINUUM_RELIABILITY_ITERATIONS", "8" if FULL else "1"))
JOINS = KILLS
DRAIN = 4  # seconds: a run takes DRAIN + ~2 s here
# A kill lands anywhere in a run. A join must land while the run goes on, whatever the
# machine's load (a joiner's process takes seconds to start): region A's API server holds
# the run's route writes (every real PATCH of an HTTPRoute hangs) from the Confirm until the
# joiner runs the CR, so the run cannot end before the hand-over — asserted through the
# joiner's recovery of the journal.
KILL_WINDOW = (0.0, DRAIN + 2.5)
SO_TTL, SO_RENEW = 15, 2  # the witness lease: a takeover (≤ ~8 s) never lets it lapse
STATUS_GRACE = 8.0


def _replica_env(stack: SimStack) -> dict[str, str]:
    return controller_env(
        stack,
        A,
        api_port=0,
        extra={
            "CONTINUUM_SHARDING": "true",
            "CONTINUUM_WATCH_NAMESPACES": stack.spec.namespace,
            "CONTINUUM_LEADER_LEASE_NAMESPACE": stack.spec.namespace,
            "CONTINUUM_LEADER_LEASE_SECONDS": str(MEMBER_TTL),
            "CONTINUUM_LEADER_RENEW_DEADLINE": str(MEMBER_DEADLINE),
            "CONTINUUM_API_TOKEN": API_TOKEN,
            "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS": "1.5",
            "CONTINUUM_LOG_LEVEL": "info",
        },
    )


async def _replica_switch(replica: Replica, ns: str, name: str, to: str) -> httpx.Response:
    """DryRun then Confirm on ``replica``'s API (as ``harness.switch`` does on a controller)."""
    headers = {"Authorization": f"Bearer {API_TOKEN}", "X-Catalyst-Owner-Tier": "true"}
    base = f"http://127.0.0.1:{replica.port}/v1/continuums/{ns}/{name}"
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        report = await http.post(f"{base}/dry-run", json={"toRegion": to})
        assert report.status_code == 200, report.text
        return await http.post(
            f"{base}/switchover",
            json={"toRegion": to, "fingerprint": report.json()["planFingerprint"]},
        )


def _runner(seen: Observed, key: str) -> list[str]:
    """The replicas that listed ``key`` in the last round."""
    return sorted(n for n, keys in (seen.rounds[-1] if seen.rounds else {}).items() if key in keys)


def _journal_recovered(replica: Replica, sid: str) -> bool:
    for line in replica.log_path.read_text(errors="replace").splitlines():
        if '"journal_found"' in line and sid in line:
            return True
    return False


@pytest.mark.timeout(120 + 60 * (KILLS + JOINS))
async def test_kill_and_join_during_a_switchover_end_with_one_writer_and_no_cr_run_twice(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("CONTINUUM_RELIABILITY_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    spec = StackSpec(
        drain_seconds=DRAIN,
        ttl_seconds=SO_TTL,
        renew_seconds=SO_RENEW,
        auto_failover=False,
        cnpg_delay=0.2,
    )
    replicas: dict[str, Replica] = {}
    outcomes: dict[str, list[str]] = {"kill": [], "join": []}
    takeovers: list[float] = []
    async with SimStack(tmp_path, spec=spec) as stack:
        approve_failback(stack)
        ns, name = stack.spec.namespace, stack.spec.name
        key = f"{ns}/{name}"
        env = _replica_env(stack)
        serial = iter(range(1, 10_000))

        def new_replica() -> Replica:
            label = f"a{next(serial)}"
            replica = Replica(label, stack.workdir, stack.kubeconfig, extra=env, identity=label)
            replicas[label] = replica
            return replica

        def live() -> list[str]:
            return [n for n, r in replicas.items() if r.alive]

        try:
            async with (
                running_controllers(stack, (B,)) as procs,
                checking(stack, status_grace=STATUS_GRACE) as checker,
                observing(stack.nats.url, replicas) as seen,
            ):
                for _ in range(2):
                    await new_replica().start()

                async def settled_on_a() -> str:
                    """Settle; bring the writer back to A if it moved; the replica running
                    the CR (exactly one of the live ones)."""
                    holder = await wait_settled(stack, routes=True, ready=True)
                    if holder == B:
                        answer = await switch(procs[B], A)
                        assert answer.status_code == 202, answer.text
                        assert await wait_settled(stack, routes=True, ready=True) == A
                    expected = owner(key, live())
                    await until(
                        lambda: (
                            _runner(seen, key) == [expected] and set(seen.rounds[-1]) == set(live())
                        ),
                        timeout=30,
                        what=f"{key} on {expected} alone",
                    )
                    assert expected is not None
                    return expected

                async def judge(sid: str, kind: str, gen_before: int) -> None:
                    holder = await wait_settled(stack, routes=True, ready=True)
                    _, gen_after, _ = await read_lease(stack)
                    assert gen_after >= gen_before
                    last = last_switchover(stack, A)
                    assert last.get("id") == sid, last  # the run was finished, one way or other
                    assert (last["result"] == "Succeeded") == (holder == B), (last, holder)
                    outcomes[kind].append(f"{'moved' if holder == B else 'stayed'}")

                for _ in range(KILLS):
                    runner = await settled_on_a()
                    _, gen_before, _ = await read_lease(stack)
                    answer = await _replica_switch(replicas[runner], ns, name, B)
                    assert answer.status_code == 202, answer.text
                    await anyio.sleep(rng.uniform(*KILL_WINDOW))
                    killed_at = time.monotonic()
                    replicas[runner].kill()
                    survivor = owner(key, live())
                    await until(
                        lambda: _runner(seen, key) == [survivor],  # noqa: B023
                        timeout=MEMBER_TTL + 10,
                        what=f"{survivor} taking {key} over",
                    )
                    takeovers.append(time.monotonic() - killed_at)
                    await judge(answer.json()["id"], "kill", gen_before)
                    await new_replica().start()  # back to two replicas (a join, not mid-run)

                handed_mid_run = 0
                for i in range(JOINS):
                    runner = await settled_on_a()
                    members = live()
                    joiner_id = next(
                        f"j{i}-{n}"
                        for n in range(10_000)
                        if owner(key, [*members, f"j{i}-{n}"]) == f"j{i}-{n}"
                    )
                    _, gen_before, _ = await read_lease(stack)
                    held = stack.emulators[A].faults.hang(  # the run's, not DryRun's checks
                        count=None, method="PATCH", resource="httproutes", dry_run=False
                    )
                    try:
                        answer = await _replica_switch(replicas[runner], ns, name, B)
                        assert answer.status_code == 202, answer.text
                        sid = answer.json()["id"]
                        await until(
                            lambda: held.hits >= 1,  # noqa: B023
                            timeout=30,
                            what="the run's route write held",
                        )
                        joiner = Replica(
                            joiner_id,
                            stack.workdir,
                            stack.kubeconfig,
                            extra=env,
                            identity=joiner_id,
                        )
                        replicas[joiner_id] = joiner
                        await joiner.start()
                        await until(
                            lambda: _runner(seen, key) == [joiner_id],  # noqa: B023
                            timeout=MEMBER_TTL + 40,
                            what=f"{joiner_id} taking {key} over",
                        )
                    finally:
                        stack.emulators[A].faults.clear()
                    await judge(sid, "join", gen_before)
                    handed_mid_run += _journal_recovered(joiner, sid)
                    await replicas[runner].terminate()  # leaves cleanly: two replicas again
                # The run was held until the joiner ran the CR: every join was handed over.
                assert handed_mid_run == JOINS
                for label in live():
                    await replicas[label].terminate()
            events = await stored_audit_events(stack)
        finally:
            for replica in replicas.values():
                replica.kill()
    assert not seen.doubles, seen.doubles
    assert_stored_once(events)
    print(
        f"\nsharding during switchovers: seed={seed} kills={KILLS} joins={JOINS} "
        f"outcomes={outcomes} takeover_after_kill_s={[round(t, 2) for t in takeovers]} "
        f"joins_handed_over_mid_run={handed_mid_run}/{JOINS} rounds={len(seen.rounds)} "
        f"doubles=0 checker_samples={checker.samples} holders={checker.holders()} "
        f"audit_events={len(events)}"
    )
