"""The nats-server launcher: ready on return, restart keeps URL and store, stop by PID."""

from __future__ import annotations

from pathlib import Path

import anyio
import nats
import pytest

from continuum_sim.nats import NatsServer, NatsServerError

pytestmark = pytest.mark.anyio


async def test_server_accepts_clients_and_jetstream_when_start_returns(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        assert info is not None
    finally:
        await nc.close()
    assert nats_server.url.startswith("nats://127.0.0.1:")


async def test_restart_keeps_url_and_jetstream_store(nats_server: NatsServer) -> None:
    url = nats_server.url
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="KEEP", subjects=["keep.>"])
    await js.publish("keep.one", b"x")
    await nc.close()
    old_pid = nats_server.pid

    await nats_server.restart()

    assert nats_server.url == url
    assert nats_server.pid != old_pid
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("KEEP")
        assert info.state.messages == 1
    finally:
        await nc.close()


async def test_stop_is_idempotent_and_frees_the_port(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "n")
    await server.start()
    assert server.running
    await server.stop()
    await server.stop()
    assert not server.running
    assert server.pid is None
    with pytest.raises(OSError, match="connection attempts failed"):
        await anyio.connect_tcp(server.host, server.port)


async def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NatsServerError, match="not found"):
        await NatsServer(tmp_path, binary="no-such-nats-server").start()
