"""Fixtures of the CLI suite: the real API (``create_app`` under uvicorn on a free loopback
port) over a real Supervisor of scripted Continuum actors, and a way to run ``continuum``
commands in-process with captured output. asyncio only (uvicorn).

The CLI is synchronous; it runs in a worker thread while the server runs on the test's event
loop.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import pytest

from continuum.cli.entry import main
from continuum.cli.terminal import Terminal
from continuum.clock import FakeClock
from continuum.config import Address, Settings
from continuum.http import Readiness, bind_listener, create_app, serve_api
from continuum.supervisor import Supervisor
from tests.cli.cli_fake_continuum import Scenario, ScriptedContinuum

TOKEN = "cli-t0ken-S3cret"
CR = "team-a/orders"


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@dataclass
class FakeTime:
    """``sleep`` advances ``now``: the CLI's polling waits take no real time."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@dataclass
class CliRun:
    """The outcome of one in-process ``continuum`` command."""

    code: int
    out: str
    err: str


@dataclass
class ApiServer:
    """A running API; ``headers`` holds the request headers of every ``/v1`` request seen."""

    url: str
    scenario: Scenario
    headers: list[dict[str, str]]
    time: FakeTime = field(default_factory=FakeTime)

    async def cli(self, *argv: str, stdin: str = "", env: dict[str, str] | None = None) -> CliRun:
        """Run ``continuum *argv`` against this server (``--api`` added unless given)."""
        args = list(argv)
        if "--api" not in args and args and args[0] not in ("logs", "sim"):
            args += ["--api", self.url]
        return await run_cli(args, stdin=stdin, env=env or {}, time=self.time)


async def run_cli(
    argv: list[str], *, stdin: str = "", env: dict[str, str], time: FakeTime | None = None
) -> CliRun:
    """``continuum.cli.entry.main(argv)`` in a worker thread with captured stdio."""
    clock = time or FakeTime()
    term = Terminal(
        stdin=io.StringIO(stdin),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ=env,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    code = await anyio.to_thread.run_sync(partial(main, argv, terminal=term))
    assert isinstance(term.stdout, io.StringIO)
    assert isinstance(term.stderr, io.StringIO)
    return CliRun(code=code, out=term.stdout.getvalue(), err=term.stderr.getvalue())


def _recording(app: Any, headers: list[dict[str, str]]) -> Callable[..., Any]:
    """The app, recording the headers of every ``/v1`` request (what the CLI sent)."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    return asgi


async def _serve(scenario: Scenario, *, token: str) -> AsyncIterator[ApiServer]:
    readiness = Readiness(is_leader=True, watch_synced=True)
    settings = Settings(api_token=token, api_body_limit_bytes=65536)
    headers: list[dict[str, str]] = []
    async with Supervisor(clock=FakeClock()) as supervisor:
        ns, _, name = CR.partition("/")
        await supervisor.spawn(CR, partial(ScriptedContinuum, scenario, namespace=ns, name=name))
        app = create_app(
            registry=supervisor.registry, readiness=readiness, settings=settings, ask_timeout=5.0
        )
        sock = bind_listener(Address("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(
                partial(serve_api, _recording(app, headers), sock, ready=ready, shutdown_timeout=1)
            )
            with anyio.fail_after(10):
                await ready.wait()
            yield ApiServer(url=url, scenario=scenario, headers=headers)
            tg.cancel_scope.cancel()


@pytest.fixture
def scenario() -> Scenario:
    """What the CR's actor answers; a test edits it before the first command."""
    return Scenario()


@pytest.fixture
async def api(scenario: Scenario) -> AsyncIterator[ApiServer]:
    """The API with token :data:`TOKEN` configured, one CR ``team-a/orders``."""
    async for server in _serve(scenario, token=TOKEN):
        yield server


@pytest.fixture
async def open_api(scenario: Scenario) -> AsyncIterator[ApiServer]:
    """The API with no token configured (the owner-tier header alone)."""
    async for server in _serve(scenario, token=""):
        yield server
