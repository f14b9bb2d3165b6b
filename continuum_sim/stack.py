"""The embedded environment: two emulated regions with CNPG behaviour, a real nats-server and
a real pdns_server on loopback, application health endpoints, and a sample Continuum.

Used by ``continuum demo``, the end-to-end tests and the benchmarks. Everything listens on
127.0.0.0/8 only, on ports chosen at run time, and is stopped when the stack exits.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
from aiohttp import web

from continuum.aclose import AsyncStartStop
from continuum.adapters.cnpg import PAIR_LABEL
from continuum.adapters.kube import KubeClients
from continuum.adapters.powerdns import PowerDnsApi
from continuum.cleanup import shielded
from continuum.clock import SystemClock
from continuum.config import Settings
from continuum.controller import Listening, run_controller
from continuum.http.readiness import Readiness
from continuum.messages.switchover import backend_in_region
from continuum.ports import Clock
from continuum.switchover.lua import LuaSynthesisParams, synthesize
from continuum_sim.cnpg import CnpgOperator
from continuum_sim.kube.emulator import KubeEmulator, bundled_crd_paths, write_kubeconfig
from continuum_sim.nats import NatsServer
from continuum_sim.pdns import PdnsServer
from continuum_sim.pgregions import PgRegions
from continuum_sim.webserver import LocalWebServer

__all__ = ["AppEndpoints", "RunningControllers", "SimStack", "StackSpec", "running_controllers"]

DEMO_TOKEN = "demo-token"


@dataclass(frozen=True, kw_only=True)
class StackSpec:
    """What the stack builds. Regions are ordered: the first is the home (primary) region."""

    regions: tuple[str, ...] = ("region-a", "region-b")
    namespace: str = "shop"
    name: str = "shop-dr"
    app: str = "shop"
    zone: str = "shop.continuum.test"
    hostnames: tuple[str, ...] = ("www.shop.continuum.test", "api.shop.continuum.test")
    witness: str = "nats-kv"
    drain_seconds: int = 2
    auto_failover: bool = False
    auto_failover_observations: int = 3
    ttl_seconds: int = 30
    renew_seconds: int = 10
    cnpg_delay: float = 0.3
    mechanism: str = "cnpg-pair"
    """``spec.switchover.mechanism`` of the sample CR; ``stateless`` leaves out
    ``spec.cnpgPair`` (the Clusters are still seeded, and must stay untouched)."""
    real_postgres: bool = False
    """Back each region's Cluster with a real PostgreSQL instance (``False``: the
    status-only emulation)."""
    ips: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: {"region-a": ("127.0.10.1",), "region-b": ("127.0.20.1",)}
    )


class AppEndpoints(AsyncStartStop):
    """The application's ``/healthz`` on each region's load-balancer IP (one port for all),
    which pdns' ``ifurlup`` probes. ``set_healthy(region, False)`` makes a region's answer
    503, as a dead region's would be."""

    def __init__(self, ips: Mapping[str, Sequence[str]]) -> None:
        self._ips = {region: tuple(found) for region, found in ips.items()}
        self._status = {ip: 200 for found in self._ips.values() for ip in found}
        self._http = LocalWebServer(self._app, hosts=tuple(self._status))

    @property
    def port(self) -> int:
        return self._http.port

    def set_healthy(self, region: str, healthy: bool) -> None:
        for ip in self._ips[region]:
            self._status[ip] = 200 if healthy else 503

    async def _handle(self, request: web.Request) -> web.Response:
        local = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        return web.Response(status=self._status.get(local, 500), text="health\n")

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._handle)
        return app

    async def start(self) -> None:
        """Listen on every region's IP (a restart keeps the port)."""
        await self._http.start()

    async def stop(self) -> None:
        """Stop listening. Idempotent."""
        await self._http.stop()


class SimStack:
    """``async with SimStack(workdir) as stack:`` — every server up and the sample CR applied
    in every region; :meth:`settings` gives a controller instance's Settings per region."""

    def __init__(
        self, workdir: Path | str, *, spec: StackSpec | None = None, clock: Clock | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.spec = spec or StackSpec()
        self.clock = clock or SystemClock()
        self.api_token = DEMO_TOKEN
        self.emulators: dict[str, KubeEmulator] = {}
        self._exit = AsyncExitStack()

    # --- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit.aclose()

    async def _start(self) -> None:
        spec, stack = self.spec, self._exit
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(self.workdir / "nats")
        await self.nats.start()
        stack.push_async_callback(shielded(self.nats.stop))
        self.pdns = await stack.enter_async_context(
            PdnsServer(self.workdir, addresses=("127.0.0.1",), api_key=secrets.token_hex(8))
        )
        self.app = AppEndpoints(spec.ips)
        await self.app.start()
        stack.push_async_callback(shielded(self.app.stop))
        for region in spec.regions:
            emulator = KubeEmulator(
                region=region,
                crd_paths=bundled_crd_paths(),
                namespaces=("default", "kube-system", "openova-system", spec.namespace),
            )
            self.emulators[region] = await stack.enter_async_context(emulator)
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.emulators)
        self.clients = await KubeClients.from_kubeconfig(
            str(self.kubeconfig), {r: r for r in spec.regions}
        )
        stack.push_async_callback(shielded(self.clients.aclose))
        self._seed()
        self.databases: PgRegions | None = None
        if spec.real_postgres:
            self.databases = await stack.enter_async_context(
                PgRegions(self.workdir, spec.regions, clock=self.clock)
            )
        self.cnpg = await stack.enter_async_context(
            CnpgOperator(
                self.clients,
                clock=self.clock,
                demotion_delay=spec.cnpg_delay,
                promotion_delay=spec.cnpg_delay,
                databases=self.databases,
            )
        )
        await self.cnpg.wait_synced()
        async with PowerDnsApi(self.pdns.api_url, self.pdns.api_key) as api:
            await api.ensure_zone(spec.zone)
            await api.commit(spec.zone, synthesize(self.lua_params(spec.regions[0])))

    # --- the sample application ----------------------------------------------------------

    @property
    def key(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"

    def cluster_name(self, region: str) -> str:
        return f"{self.spec.app}-pg-{region}"

    def lua_params(self, primary: str) -> LuaSynthesisParams:
        spec = self.spec
        return LuaSynthesisParams(
            primary_region=primary,
            region_ips={r: tuple(spec.ips[r]) for r in spec.regions},
            probe_hosts={r: f"probe-{r}.{spec.zone}" for r in spec.regions},
            health_check_url=f"http://probe.{spec.zone}:{self.app.port}/healthz",
            health_check_interval_seconds=1,
            health_check_timeout_seconds=2,
            hostnames=spec.hostnames,
            ttl=1,
        )

    def continuum(self) -> dict[str, Any]:
        """The sample Continuum CR (the same object is applied in every region)."""
        spec = self.spec
        home, *standbys = spec.regions
        config: dict[str, Any] = {
            "ttlSeconds": spec.ttl_seconds,
            "renewSeconds": spec.renew_seconds,
        }
        if spec.witness == "nats-kv":
            config["url"] = self.nats.url
        stateless = spec.mechanism == "stateless"
        pair = None if stateless else {"name": f"{spec.app}-pg", "namespace": spec.namespace}
        body: dict[str, Any] = {
            "apiVersion": "dr.openova.io/v1",
            "kind": "Continuum",
            "metadata": {"name": spec.name, "namespace": spec.namespace},
            "spec": {
                "applicationRef": spec.app,
                "primaryRegion": home,
                "hotStandbyRegions": standbys,
                "leaseClient": {"kind": spec.witness, "config": config},
                "autoFailover": spec.auto_failover,
                "autoFailoverObservations": spec.auto_failover_observations,
                "cnpgPair": pair,
                "httpRoute": {"name": spec.app, "namespace": spec.namespace},
                "pdmZone": spec.zone,
                "regions": [
                    {
                        "name": r,
                        "lbIPs": list(spec.ips[r]),
                        "probeHost": f"probe-{r}.{spec.zone}",
                    }
                    for r in spec.regions
                ],
                "luaRecord": {
                    "hostnames": list(spec.hostnames),
                    "ttl": 1,
                    "healthCheck": {
                        "url": f"http://probe.{spec.zone}:{self.app.port}/healthz",
                        "intervalSeconds": 1,
                        "timeoutSeconds": 2,
                    },
                },
                "switchover": {
                    "drainSeconds": spec.drain_seconds,
                    "requestedBy": "demo",
                    "mechanism": spec.mechanism,
                },
            },
        }
        if pair is None:
            del body["spec"]["cnpgPair"]
        return body

    def _seed(self) -> None:
        spec = self.spec
        home = spec.regions[0]
        for region, emulator in self.emulators.items():
            other = next(r for r in spec.regions if r != region)
            emulator.apply(
                {
                    "apiVersion": "postgresql.cnpg.io/v1",
                    "kind": "Cluster",
                    "metadata": {
                        "name": self.cluster_name(region),
                        "namespace": spec.namespace,
                        "labels": {PAIR_LABEL: f"{spec.app}-pg"},
                    },
                    "spec": {
                        "instances": 2,
                        "replica": {
                            "primary": self.cluster_name(home),
                            "self": self.cluster_name(region),
                            "source": self.cluster_name(other),
                        },
                    },
                }
            )
            emulator.apply(
                {
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "HTTPRoute",
                    "metadata": {"name": spec.app, "namespace": spec.namespace},
                    "spec": {
                        "hostnames": list(spec.hostnames),
                        "rules": [
                            {
                                "backendRefs": [
                                    {
                                        "name": f"{spec.app}-{r}",
                                        "port": 8080,
                                        "weight": 100 if r == home else 0,
                                    }
                                    for r in spec.regions
                                ]
                            }
                        ],
                    },
                }
            )
            emulator.apply(self.continuum())

    # --- controller settings -------------------------------------------------------------

    def settings(
        self,
        region: str,
        *,
        api_port: int | None = None,
        metrics_port: int | None = None,
        health_delay: float = 0.0,
        extra: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings of the controller instance of ``region`` (no leader election: one
        instance per region). A port of 0 binds a free port (reported by the controller);
        ``None`` disables that listener."""
        nameservers = ",".join(self.pdns.nameservers)
        env = {
            "CONTINUUM_REGION": region,
            "CONTINUUM_KUBECONFIG": str(self.kubeconfig),
            "CONTINUUM_REGION_CONTEXTS": ",".join(f"{r}={r}" for r in self.spec.regions),
            "CONTINUUM_NATS_URL": self.nats.url,
            "CONTINUUM_DNS_WRITER": "powerdns",
            "CONTINUUM_POWERDNS_API_URL": self.pdns.api_url,
            "CONTINUUM_POWERDNS_API_KEY": self.pdns.api_key,
            "CONTINUUM_DNS_VERIFY_SERVERS": nameservers,
            "CONTINUUM_HEALTH_VANTAGES": nameservers,
            "CONTINUUM_HEALTH_PROBE_TIMEOUT": "1",
            "CONTINUUM_HEALTH_DELAY_SECONDS": str(health_delay),
            "CONTINUUM_LEADER_ELECTION": "false",
            "CONTINUUM_WITNESS_IN_MEMORY": "true",
            "CONTINUUM_API_ADDR": f"127.0.0.1:{api_port}" if api_port is not None else "",
            "CONTINUUM_METRICS_ADDR": (
                f"127.0.0.1:{metrics_port}" if metrics_port is not None else ""
            ),
            "CONTINUUM_API_TOKEN": self.api_token,
            "CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS": "5",
        }
        env.update(extra or {})
        return Settings.from_env(env)

    # --- what the servers say (for scenarios and tests) ----------------------------------

    def cluster(self, region: str) -> dict[str, Any]:
        found = self.emulators[region].store.get(
            "postgresql.cnpg.io", "clusters", self.spec.namespace, self.cluster_name(region)
        )
        assert found is not None
        return dict(found)

    def acting_primaries(self) -> list[str]:
        """Regions whose Cluster's live spec says it is the primary."""
        return [
            region
            for region in self.spec.regions
            if (self.cluster(region).get("spec", {}).get("replica", {}) or {}).get("primary")
            == self.cluster_name(region)
        ]

    def route_weights(self, region: str) -> dict[str, int]:
        route = self.emulators[region].store.get(
            "gateway.networking.k8s.io", "httproutes", self.spec.namespace, self.spec.app
        )
        assert route is not None
        out: dict[str, int] = {}
        for rule in route.get("spec", {}).get("rules", []):
            for ref in rule.get("backendRefs", []):
                out[ref["name"]] = int(ref.get("weight", 1))
        return out

    def serving_regions(self, region: str) -> set[str]:
        weights = self.route_weights(region)
        return {
            r
            for r in self.spec.regions
            if any(w > 0 for b, w in weights.items() if backend_in_region(b, r))
        }

    def continuum_status(self, region: str) -> dict[str, Any]:
        found = self.emulators[region].store.get(
            "dr.openova.io", "continuums", self.spec.namespace, self.spec.name
        )
        assert found is not None
        return dict(found.get("status") or {})


@dataclass
class RunningControllers:
    """The in-process controller instances of :func:`running_controllers`, by region."""

    scopes: dict[str, anyio.CancelScope] = field(default_factory=dict)
    """Cancel one to stop that instance, as if its pod died."""
    listening: dict[str, Listening] = field(default_factory=dict)
    """Where each instance's API and metrics are bound (ports given by the kernel)."""

    def api_port(self, region: str) -> int:
        port = self.listening[region].api_port
        if port is None:
            raise LookupError(f"the controller of {region} serves no API")
        return port


@asynccontextmanager
async def running_controllers(
    stack: SimStack,
    ports: Mapping[str, int | None],
    *,
    health_delay: float = 0.0,
    ready_timeout: float = 60.0,
) -> AsyncIterator[RunningControllers]:
    """Run one real controller per region of ``ports`` (API on that port — 0: a free port
    the kernel picks, read it from :attr:`RunningControllers.listening`; ``None``: no API)
    in-process, each ready (watch synced) before the block starts; all stop on exit."""
    running = RunningControllers()
    async with anyio.create_task_group() as tg:
        for region, port in ports.items():
            ready = anyio.Event()
            scope = anyio.CancelScope()
            running.scopes[region] = scope
            settings = stack.settings(region, api_port=port, health_delay=health_delay)

            async def on_ready(_: Readiness, ev: anyio.Event = ready) -> None:
                ev.set()

            def on_listening(where: Listening, r: str = region) -> None:
                running.listening[r] = where

            async def run(
                s: Settings = settings,
                cb: Any = on_ready,
                bound: Any = on_listening,
                sc: anyio.CancelScope = scope,
            ) -> None:
                with sc:
                    await run_controller(s, clock=stack.clock, on_ready=cb, on_listening=bound)

            tg.start_soon(run)
            with anyio.fail_after(ready_timeout):
                await ready.wait()
        yield running
        tg.cancel_scope.cancel()
