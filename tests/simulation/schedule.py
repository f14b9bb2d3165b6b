"""Schedules: what happens to the world and the two instances, in order, from a seed.

A schedule is a plain list of actions (so it prints, replays and shrinks); the simulator adds
no randomness of its own. :func:`generate` draws one from a seed.
"""

from __future__ import annotations

import random

import msgspec

from tests.simulation.world import REGIONS, FaultKind, Target
from tests.switchover.fakes import A, B

__all__ = [
    "Action",
    "ArmKill",
    "Delete",
    "Fail",
    "Heal",
    "Kill",
    "Partition",
    "RequestInSpec",
    "SetSpec",
    "Switchover",
    "Tick",
    "decode",
    "encode",
    "generate",
    "generate_with_deletion",
]


class Tick(msgspec.Struct, frozen=True, tag="tick"):
    """Deliver every pending message, then move time to the next timer (or restart) and
    fire every timer due by then."""


class Kill(msgspec.Struct, frozen=True, tag="kill"):
    """kill -9 ``region``'s instance now; it restarts ``down`` seconds later."""

    region: str
    down: float = 0.0


class ArmKill(msgspec.Struct, frozen=True, tag="arm"):
    """kill -9 ``region``'s instance right after its ``writes``-th next write lands (inside a
    step, a compensation, a renewal, a status write...)."""

    region: str
    writes: int
    down: float = 0.0


class Fail(msgspec.Struct, frozen=True, tag="fail"):
    """The next ``times`` calls of ``op`` on ``target`` (by ``region``'s instance, or any)
    fail as ``kind`` (``slow``: answer after ``seconds``)."""

    target: Target
    op: str
    kind: FaultKind
    times: int = 1
    region: str | None = None
    seconds: float = 0.0


class Heal(msgspec.Struct, frozen=True, tag="heal"):
    """Every injected fault is cleared."""


class Partition(msgspec.Struct, frozen=True, tag="partition"):
    """Cut ``region`` off (the witness, the other region, DNS, the audit stream) or heal it."""

    region: str
    cut: bool


class Switchover(msgspec.Struct, frozen=True, tag="switchover"):
    """The operator previews (DryRun) and confirms a switchover to ``to`` at the instance
    that acts as writer (nothing when none does)."""

    to: str


class SetSpec(msgspec.Struct, frozen=True, tag="spec"):
    """A spec change in both regions' CRs: failback approval and automatic failover."""

    failback_approved: bool
    auto_failover: bool


class RequestInSpec(msgspec.Struct, frozen=True, tag="request"):
    """The operator sets ``spec.switchover.requested`` (target ``to``) in both regions' CRs."""

    to: str


class Delete(msgspec.Struct, frozen=True, tag="delete"):
    """The operator deletes ``region``'s Continuum CR. With the controller's finalizer on it
    the API server only marks it (``deletionTimestamp``): the instance finishes what is in
    flight, removes the finalizer, and the CR (status included) is gone; without it (the
    instance never added it) it is gone at once and its instance stopped. Not restarted
    once gone."""

    region: str


Action = (
    Tick | Kill | ArmKill | Fail | Heal | Partition | Switchover | SetSpec | RequestInSpec | Delete
)

_OPS: dict[Target, tuple[str, ...]] = {
    "witness": ("read", "renew", "acquire", "handover", "*"),
    "pair": ("read_pair", "demote", "promote", "wait_ready_as_primary", "*"),
    "routes": ("drain", "shift_to", "restore", "read_weights", "*"),
    "dns": ("commit", "verify", "*"),
    "audit": ("emit",),
    "status": ("patch_status", "*"),
}
_KINDS: tuple[FaultKind, ...] = (
    "timeout",
    "unavailable",
    "conflict",
    "server-error",
    "slow",
    "lost-reply",
)


def generate(seed: int, length: int = 40) -> list[Action]:
    """A schedule of ``length`` actions drawn from ``seed`` (same seed, same schedule)."""
    rng = random.Random(seed)
    actions: list[Action] = []
    for _ in range(length):
        roll = rng.random()
        region = rng.choice(REGIONS)
        if roll < 0.50:
            actions.append(Tick())
        elif roll < 0.57:
            actions.append(Switchover(to=rng.choice(REGIONS)))
        elif roll < 0.60:
            actions.append(RequestInSpec(to=rng.choice(REGIONS)))
        elif roll < 0.66:
            actions.append(Kill(region=region, down=rng.choice((0.0, 5.0, 20.0, 40.0))))
        elif roll < 0.76:
            actions.append(
                ArmKill(
                    region=region,
                    writes=rng.randint(1, 8),
                    down=rng.choice((0.0, 5.0, 20.0, 40.0)),
                )
            )
        elif roll < 0.88:
            target: Target = rng.choice(tuple(_OPS))
            kind = rng.choice(_KINDS)
            actions.append(
                Fail(
                    target=target,
                    op=rng.choice(_OPS[target]),
                    kind=kind,
                    times=rng.randint(1, 3),
                    region=rng.choice((None, *REGIONS)),
                    seconds=rng.choice((1.0, 4.0, 12.0)) if kind == "slow" else 0.0,
                )
            )
        elif roll < 0.92:
            actions.append(Heal())
        elif roll < 0.95:
            actions.append(Partition(region=region, cut=rng.random() < 0.6))
        elif roll < 0.995:
            actions.append(
                SetSpec(failback_approved=rng.random() < 0.5, auto_failover=rng.random() < 0.5)
            )
        else:
            actions.append(Delete(region=region))
    return actions


def generate_with_deletion(seed: int, length: int = 40) -> list[Action]:
    """A schedule that deletes a CR while a run is in flight: the writer (A) starts a
    switchover to B, maybe armed to die a few writes into it, and a random region's CR is
    deleted at once; then :func:`generate`'s actions for ``seed`` follow."""
    rng = random.Random(f"delete-{seed}")
    prefix: list[Action] = [Tick(), Tick()]
    if rng.random() < 0.7:
        prefix.append(
            ArmKill(region=A, writes=rng.randint(1, 8), down=rng.choice((0.0, 5.0, 20.0, 40.0)))
        )
    prefix += [Switchover(to=B), Delete(region=rng.choice(REGIONS))]
    return prefix + generate(seed, max(0, length - len(prefix)))


def encode(schedule: list[Action]) -> str:
    return msgspec.json.encode(schedule).decode()


def decode(text: str | bytes) -> list[Action]:
    return msgspec.json.decode(text, type=list[Action])
