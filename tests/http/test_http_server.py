"""serve_api: ready when accepting, clean stop on cancellation, honest failure to start."""

from __future__ import annotations

import asyncio
import gc
import socket
from functools import partial

import anyio
import httpx
import pytest
from litestar import Litestar, get

from continuum.config import Address
from continuum.http import ServerFailed, bind_listener, serve_api

pytestmark = pytest.mark.anyio


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@get("/ping", sync_to_thread=False)
def ping() -> str:
    return "pong"


async def test_serve_api_accepts_once_ready_and_closes_the_port_when_cancelled() -> None:
    sock = bind_listener(Address("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(serve_api, Litestar([ping]), sock, ready=ready, shutdown_timeout=1))
        with anyio.fail_after(10):
            await ready.wait()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/ping")).text == "pong"
        tg.cancel_scope.cancel()
    assert sock.fileno() == -1
    assert refuses_connections(port)


async def test_cancellation_stops_accepting_at_once_but_lets_an_in_flight_request_finish() -> None:
    entered = anyio.Event()
    gate = anyio.Event()

    @get("/slow")
    async def slow() -> str:
        entered.set()
        await gate.wait()
        return "done"

    sock = bind_listener(Address("127.0.0.1", 0))
    port = sock.getsockname()[1]
    responses: list[httpx.Response] = []
    async with anyio.create_task_group() as tg:
        server_scope = anyio.CancelScope()
        ready = anyio.Event()

        async def run_server() -> None:
            with server_scope:
                await serve_api(Litestar([slow]), sock, ready=ready, shutdown_timeout=5)

        async def call() -> None:
            async with httpx.AsyncClient() as client:
                responses.append(await client.get(f"http://127.0.0.1:{port}/slow"))

        tg.start_soon(run_server)
        with anyio.fail_after(10):
            await ready.wait()
        tg.start_soon(call)
        with anyio.fail_after(10):
            await entered.wait()
        server_scope.cancel()
        for _ in range(500):  # polling the real listener, bounded at ~5 s
            if refuses_connections(port):
                break
            await anyio.sleep(0.01)
        assert refuses_connections(port)
        gate.set()
    assert responses[0].status_code == 200
    assert responses[0].text == "done"


async def test_serve_api_raises_server_failed_when_the_app_cannot_start() -> None:
    def broken_startup() -> None:
        raise RuntimeError("cannot start")

    app = Litestar([ping], on_startup=[broken_startup])
    sock = bind_listener(Address("127.0.0.1", 0))
    port = sock.getsockname()[1]
    with anyio.fail_after(10), pytest.raises(ServerFailed):
        await serve_api(app, sock)
    assert refuses_connections(port)


async def test_binding_an_address_in_use_raises_oserror() -> None:
    taken = bind_listener(Address("127.0.0.1", 0))
    try:
        with pytest.raises(OSError, match="in use"):
            bind_listener(Address("127.0.0.1", taken.getsockname()[1]))
    finally:
        taken.close()


async def test_listener_is_tcp_so_responses_are_not_held_back_by_nagle() -> None:
    sock = bind_listener(Address("127.0.0.1", 0))
    assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only on these
    port = sock.getsockname()[1]
    async with anyio.create_task_group() as tg:
        ready = anyio.Event()
        tg.start_soon(partial(serve_api, Litestar([ping]), sock, ready=ready, shutdown_timeout=1))
        with anyio.fail_after(10):
            await ready.wait()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/ping")
            # The server's end of the kept-alive connection, found through its transport.
            accepted = [
                t.get_extra_info("socket")
                for t in gc.get_objects()
                if isinstance(t, asyncio.Transport)
                and not t.is_closing()
                and (t.get_extra_info("sockname") or ("", 0))[1] == port
            ]
            nodelay = [s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted if s]
        tg.cancel_scope.cancel()
    # With Nagle on, each keep-alive response would stall ~40 ms on the client's delayed ACK.
    assert nodelay
    assert all(nodelay)
