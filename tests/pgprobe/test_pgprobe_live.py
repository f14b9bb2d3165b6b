"""The replication probe against a real PostgreSQL primary and streaming standby."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest

from continuum.adapters.pgprobe import PgReplicationProbe, PgTls, ProbeUnavailable
from continuum.clock import FakeClock, SystemClock
from continuum.messages.replication import ReplicationObservation
from continuum.switchover.lag import (
    StandbyGrace,
    StandbySignal,
    derive_posture,
    signal_from_posture,
)
from continuum_sim.postgres import PostgresPair
from tests.pgprobe.pg_certs import Certs

pytestmark = pytest.mark.anyio

T = TypeVar("T")

APP = "demo-replica"


async def poll(
    read: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, deadline: float = 15.0
) -> T:
    """Read a real server until ``until`` holds; bounded in real time."""
    value = await read()
    with anyio.fail_after(deadline):
        while not until(value):
            await anyio.sleep(0.05)
            value = await read()
    return value


def primary_probe(pg: PostgresPair, **kwargs: object) -> PgReplicationProbe:
    return PgReplicationProbe(pg.primary_dsn, clock=SystemClock(), **kwargs)  # type: ignore[arg-type]


async def test_streaming_standby_is_present_with_zero_lag(pg: PostgresPair) -> None:
    obs = await primary_probe(pg).observe_primary()

    posture = derive_posture(obs, APP)
    assert posture.standby_present
    assert posture.expected_present
    assert posture.streaming
    assert posture.app_name == APP
    assert not posture.sync_standby_present  # asynchronous replication
    assert posture.max_lag_bytes == 0
    assert posture.max_lag_seconds is not None
    assert posture.max_lag_seconds < 1.0
    [row] = obs.standbys
    assert row.state == "streaming"
    assert row.sync_state == "async"
    assert row.replay_lsn == obs.current_wal_lsn


async def test_paused_replay_with_writes_gives_lag_bytes_and_growing_seconds(
    pg: PostgresPair,
) -> None:
    probe = primary_probe(pg)
    standby = PgReplicationProbe(pg.standby_dsn, clock=SystemClock())
    await pg.write_rows(10)  # a replayed transaction gives the standby a replay timestamp
    await pg.wait_streaming()
    await pg.pause_replay()
    try:
        await pg.write_rows(2000)

        def lagging(o: ReplicationObservation) -> bool:
            lag = derive_posture(o, APP).max_lag_seconds
            return lag is not None and lag > 0

        first = derive_posture(await poll(probe.observe_primary, lagging), APP)
        assert first.max_lag_bytes is not None
        assert first.max_lag_bytes > 0
        assert first.max_lag_seconds is not None
        later = derive_posture(
            await poll(
                probe.observe_primary,
                lambda o: (derive_posture(o, APP).max_lag_seconds or 0) > first.max_lag_seconds,  # type: ignore[operator]
            ),
            APP,
        )
        assert later.max_lag_bytes == first.max_lag_bytes  # nothing replayed meanwhile

        seen = await standby.observe_standby()
        assert seen.in_recovery
        assert seen.replay_paused
        assert seen.lag_bytes is not None
        assert seen.lag_bytes > 0
        assert seen.lag_seconds is not None
        grown = await poll(
            standby.observe_standby,
            lambda s: (s.lag_seconds or 0) > (seen.lag_seconds or 0),
        )
        assert grown.lag_bytes == seen.lag_bytes
    finally:
        await pg.resume_replay()
        await pg.wait_streaming()

    caught_up = derive_posture(await probe.observe_primary(), APP)
    assert caught_up.max_lag_bytes == 0


async def test_standby_view_when_caught_up_is_zero_lag_and_a_primary_is_not_in_recovery(
    pg: PostgresPair,
) -> None:
    await pg.wait_streaming()
    standby = await PgReplicationProbe(pg.standby_dsn, clock=SystemClock()).observe_standby()
    assert standby.in_recovery
    assert not standby.replay_paused
    assert standby.lag_bytes == 0
    assert standby.lag_seconds == 0.0

    primary = await primary_probe(pg).observe_standby()
    assert not primary.in_recovery
    assert primary.replay_lsn is None
    assert primary.lag_seconds is None


async def test_a_standby_probed_as_primary_is_unavailable_not_standby_less(
    pg: PostgresPair,
) -> None:
    probe = PgReplicationProbe(pg.standby_dsn, clock=SystemClock())
    with pytest.raises(ProbeUnavailable, match="in recovery"):
        await probe.observe_primary()


async def test_role_without_read_all_stats_sees_masked_rows_that_still_count_as_present(
    pg: PostgresPair,
) -> None:
    await pg.execute("DROP ROLE IF EXISTS plain_probe")
    await pg.execute("CREATE ROLE plain_probe LOGIN PASSWORD 'plain-secret'")
    assert pg.primary is not None
    dsn = pg.dsn(pg.primary, user="plain_probe", password="plain-secret")

    obs = await PgReplicationProbe(dsn, clock=SystemClock()).observe_primary()

    posture = derive_posture(obs, APP)
    assert posture.standby_present
    assert posture.masked_count == 1
    assert not posture.streaming  # unknown, not a claim that it is not streaming
    assert posture.max_lag_seconds is None  # masked lag is unmeasured, never 0


async def test_wrong_password_raises_probe_unavailable_without_the_password(
    pg: PostgresPair,
) -> None:
    assert pg.primary is not None
    secret = "Wr0ng-S3cret-xyz"
    probe = PgReplicationProbe(pg.dsn(pg.primary, password=secret), clock=SystemClock())

    with pytest.raises(ProbeUnavailable) as caught:
        await probe.observe_primary()

    message = str(caught.value)
    assert secret not in message
    assert secret not in repr(probe)
    assert f"127.0.0.1:{pg.primary.port}" in message
    assert "password authentication failed" in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_nothing_listening_raises_probe_unavailable_naming_host_and_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        probe = PgReplicationProbe(
            f"postgresql://u:topsecret@127.0.0.1:{port}/postgres", clock=SystemClock()
        )
        with pytest.raises(ProbeUnavailable) as caught:
            await probe.observe_primary()
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "topsecret" not in str(caught.value)


async def test_a_server_that_never_answers_is_unavailable_within_the_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # the kernel accepts the handshake; nobody ever answers
        port = sock.getsockname()[1]
        probe = PgReplicationProbe(
            f"host=127.0.0.1 port={port} user=u password=pw sslmode=disable",
            clock=SystemClock(),
            timeout=0.3,
        )
        with anyio.fail_after(5), pytest.raises(ProbeUnavailable, match=r"within 0\.3s"):
            await probe.observe_primary()


async def test_stopped_primary_raises_probe_unavailable(pg: PostgresPair) -> None:
    probe = primary_probe(pg)
    await pg.stop_primary()
    try:
        with pytest.raises(ProbeUnavailable):
            await probe.observe_primary()
    finally:
        await pg.start_primary()
    assert derive_posture(await probe.observe_primary(), APP).streaming


async def test_stopped_standby_gives_zero_standbys_and_unavailable_only_after_grace(
    pg: PostgresPair,
) -> None:
    probe = primary_probe(pg)
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    signal, name = signal_from_posture(derive_posture(await probe.observe_primary(), APP))
    assert grace.observe(signal, name).available

    await pg.stop_standby()
    try:
        obs = await poll(probe.observe_primary, lambda o: not o.standbys)
        signal, name = signal_from_posture(derive_posture(obs, APP))
        assert signal is StandbySignal.UNAVAILABLE

        assert not grace.observe(signal, name).known  # the grace window starts
        clock.advance(29.9)
        assert not grace.observe(signal, name).known
        clock.advance(0.1)
        verdict = grace.observe(signal, name)
        assert verdict.known
        assert not verdict.available
        assert not verdict.gone  # a probe cannot prove deletion
        assert verdict.reason == "StandbyUnreachable"
        assert verdict.replica_cluster == APP
    finally:
        await pg.start_standby()


async def test_verify_ca_accepts_a_server_signed_by_the_given_ca(
    pg: PostgresPair, certs: Certs
) -> None:
    dsn = pg.primary_dsn.replace("sslmode=disable", "sslmode=require")
    for tls in (PgTls(ca_pem=certs.ca_pem), PgTls(ca_pem=certs.ca_pem, verify_hostname=True)):
        obs = await PgReplicationProbe(dsn, clock=SystemClock(), tls=tls).observe_primary()
        assert derive_posture(obs, APP).standby_present


async def test_verify_ca_rejects_a_server_signed_by_another_ca(
    pg: PostgresPair, certs: Certs
) -> None:
    probe = PgReplicationProbe(
        pg.primary_dsn, clock=SystemClock(), tls=PgTls(ca_pem=certs.other_ca_pem)
    )
    with pytest.raises(ProbeUnavailable, match=r"(?i)certificate"):
        await probe.observe_primary()
    assert pg.probe_password not in repr(probe)


async def test_a_client_certificate_is_presented_alongside_verify_ca(
    pg: PostgresPair, certs: Certs
) -> None:
    tls = PgTls(ca_pem=certs.ca_pem, cert_pem=certs.client_crt_pem, key_pem=certs.client_key_pem)
    obs = await PgReplicationProbe(pg.primary_dsn, clock=SystemClock(), tls=tls).observe_primary()
    assert derive_posture(obs, APP).standby_present


async def test_unusable_tls_material_is_probe_unavailable(pg: PostgresPair) -> None:
    probe = PgReplicationProbe(pg.primary_dsn, clock=SystemClock(), tls=PgTls(ca_pem="junk"))
    with pytest.raises(ProbeUnavailable):
        await probe.observe_primary()
