"""The real databases behind a CNPG pair: one PostgreSQL instance per region, the first region
the primary, every other region streaming from it — and the operations CloudNativePG performs
on them for Continuum's handshake.

* :meth:`PgRegions.demote` — a clean (fast) shutdown of the primary, then a restart as a
  standby of the new primary's instance. The shutdown checkpoint's timeline and LSN (from
  ``pg_controldata``) are what the demotion token carries. An instance whose new upstream
  is already a primary on another timeline (it was primary when a failover happened) is
  rewound with ``pg_rewind`` first — never re-cloned; each rewind is recorded in
  :attr:`PgRegions.rewinds`.
* :meth:`PgRegions.promote` — ``pg_promote`` only once the standby has replayed past the
  token's LSN (``None`` until then: the caller retries); without a token (the failover path)
  at once.
* :meth:`PgRegions.fence` / :meth:`PgRegions.unfence` — a fenced instance is stopped, as CNPG
  fences: it accepts no connection, hence no write.
* :meth:`PgRegions.lose` — the region's database is gone (SIGKILL: no shutdown checkpoint);
  the operator brings it back by :meth:`PgRegions.unfence` (as primary) or
  :meth:`PgRegions.demote` (as a standby).

Every role change is recorded in :attr:`PgRegions.transitions` (the write checker's input).
Asyncio only. ``async with PgRegions(workdir, regions, clock=clock) as pg:`` creates the
instances (about a second) and removes them on exit. Raises
:class:`~continuum_sim.postgres.PostgresError`.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

import anyio
import structlog

from continuum.aclose import AsyncStartStop
from continuum.ports import Clock
from continuum_sim.pginstance import Checkpoint, InstanceState, PgInstance, Rewind, lsn_int
from continuum_sim.postgres import PostgresError
from continuum_sim.writecheck import WRITES_TABLE, Transition, TransitionKind

__all__ = ["PgRegions"]

log = structlog.get_logger("continuum_sim.pgregions")

_WRITES_DDL = f"""
CREATE TABLE {WRITES_TABLE} (
    seq bigint PRIMARY KEY,
    region text NOT NULL DEFAULT current_setting('continuum.region'),
    at timestamptz NOT NULL DEFAULT clock_timestamp()
)"""


class PgRegions(AsyncStartStop):
    """One :class:`PgInstance` per region (see the module docstring). Operations on one
    region are serialised by the caller (the operator's lock)."""

    def __init__(
        self,
        workdir: Path | str,
        regions: Sequence[str],
        *,
        clock: Clock,
        bindir: Path | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.regions = tuple(regions)
        self._clock = clock
        self._bindir = bindir
        self._root: Path | None = None
        self.instances: dict[str, PgInstance] = {}
        self.rewinds: list[Rewind] = []
        self.transitions: list[Transition] = []
        """Every role change carried out on an instance, in order, stamped with ``clock``'s
        monotonic time once it took effect (a promotion, an unfence: when it was asked)."""

    def instance(self, region: str) -> PgInstance:
        return self.instances[region]

    def dsns(self) -> dict[str, str]:
        """Each region's TCP DSN now (a port can move when an instance restarts)."""
        return {region: inst.dsn() for region, inst in self.instances.items()}

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the primary (first region) and a streaming standby per other region."""
        try:
            self._root = Path(tempfile.mkdtemp(prefix="continuum-pgr-", dir=_reachable_tmp()))
            if os.geteuid() == 0:
                shutil.chown(self._root, "postgres", "postgres")
            for region in self.regions:
                self.instances[region] = PgInstance(
                    name=region, root=self._root, logdir=self.workdir / "postgres",
                    bindir=self._bindir,
                )  # fmt: skip
            home, *others = self.regions
            primary = self.instances[home]
            await primary.init_primary()
            await primary.fetchval(_WRITES_DDL)
            for region in others:
                await self.instances[region].clone_from(primary)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every instance and remove the data; idempotent."""
        with anyio.CancelScope(shield=True):
            for inst in reversed(list(self.instances.values())):
                await inst.close()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    # --- what CNPG does -------------------------------------------------------------------

    async def demote(self, region: str, *, upstream: str) -> Checkpoint:
        """Make ``region``'s instance a standby of ``upstream``'s; returns its last
        checkpoint before it restarted (the shutdown checkpoint after a clean stop)."""
        inst, source = self.instances[region], self.instances[upstream]
        checkpoint = await (inst.stop() if inst.running else inst.checkpoint())
        source_state = await self._ready_state(upstream)
        forked = source_state.timeline != checkpoint.timeline
        if not source_state.in_recovery and forked:
            # a primary on another timeline: the histories may have forked (a failover while
            # this one was primary); pg_rewind decides, and says "no rewind required" when
            # they have not. An upstream still in recovery is the handshake's other half: it
            # has replayed this instance's WAL and is promoted only past its shutdown
            # checkpoint, so nothing can have forked (and a standby's own timeline is only
            # known from its last restartpoint).
            rewind = await inst.rewind(source)
            self.rewinds.append(rewind)
            log.info(
                "cnpg_sim_rewound",
                instance=region,
                source=upstream,
                diverged_at=rewind.diverged_at or "(nothing to rewind)",
            )
        inst.set_upstream(source)
        await inst.start()
        if checkpoint.primary:
            # the LSN bounds what it accepted only after a clean shutdown, not a crash
            lsn = checkpoint.lsn if checkpoint.clean else ""
            self._record(region, "demoted", timeline=checkpoint.timeline, lsn=lsn)
        return checkpoint

    async def _ready_state(self, region: str, *, timeout: float = 30.0) -> InstanceState:
        """``region``'s state once it answers. Raises PostgresError after ``timeout`` real
        seconds (the operator retries): never decide a rewind on a server that is down."""
        with anyio.move_on_after(timeout):
            while True:
                state = await self.instances[region].state()
                if state.ready:
                    return state
                await anyio.sleep(0.1)
        raise PostgresError(f"postgres {region} does not answer (needed as an upstream)")

    async def promote(self, region: str, *, after: str | None) -> tuple[int, str] | None:
        """Promote ``region``'s standby once it replayed past LSN ``after`` (``None``: now);
        returns the new timeline and the LSN replayed before the promotion (where the new
        timeline forks), or ``None`` when the replay is not there yet."""
        inst = self.instances[region]
        state = await inst.state()
        if after is not None and (
            not state.ready or not state.lsn or lsn_int(state.lsn) <= lsn_int(after)
        ):
            return None
        asked = self._clock.monotonic()
        timeline = await inst.promote()
        self._record(region, "promoted", timeline=timeline, lsn=state.lsn, at=asked)
        return timeline, state.lsn

    async def fence(self, region: str) -> None:
        """Stop ``region``'s instance (fast shutdown): it accepts nothing."""
        await self.instances[region].process.stop()
        self._record(region, "fenced")

    async def unfence(self, region: str) -> None:
        """Start ``region``'s instance again in the role its files say. Recorded as of the
        start request: the instance may accept a write before :meth:`PgInstance.start`
        returns (as a promotion is recorded as of ``pg_promote``)."""
        asked = self._clock.monotonic()
        await self.instances[region].start()
        self._record(region, "unfenced", at=asked)

    async def lose(self, region: str) -> None:
        """SIGKILL ``region``'s instance (the region's database is gone)."""
        await self.instances[region].kill()
        self._record(region, "lost")

    def _record(
        self,
        region: str,
        kind: TransitionKind,
        *,
        timeline: int = 0,
        lsn: str = "",
        at: float | None = None,
    ) -> None:
        at = self._clock.monotonic() if at is None else at
        self.transitions.append(
            Transition(region=region, kind=kind, at=at, timeline=timeline, lsn=lsn)
        )
        log.info("cnpg_sim_transition", region=region, kind=kind, timeline=timeline, lsn=lsn)

    async def state(self, region: str) -> InstanceState:
        return await self.instances[region].state()


def _reachable_tmp() -> Path:
    """The temp directory, if every directory above it lets other users through (the servers
    run as ``postgres``); else ``/tmp``."""
    base = Path(tempfile.gettempdir()).resolve()
    if os.geteuid() != 0:
        return base
    for part in (base, *base.parents):
        if not part.stat().st_mode & stat.S_IXOTH:
            return Path("/tmp")
    return base
