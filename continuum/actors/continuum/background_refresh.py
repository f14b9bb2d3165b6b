"""Timer-driven lease refreshes whose witness calls run outside the actor's mailbox.

A renewal is a short conversation with the witness (renew; on ``LeaseLost`` re-acquire; as a
standby read, then maybe adopt or acquire), each call bounded by ``READ_TIMEOUT``. Made inside
the message handler, a slow or blackholed witness held the mailbox for up to two bounds, and
every request queued behind it (``GET /v1/continuums/{ns}/{name}`` stalled 5.1 s in a witness
outage, issue 13 item 5). Here each call runs in a child task; its answer comes back as a
:class:`~continuum.actors.continuum.messages.WitnessReplied` message and the rule
(:mod:`continuum.core.lease`) continues from it in the mailbox, as a switchover's steps do.
Meanwhile the actor answers requests from its state.

Guarantees: at most one timer-driven refresh in flight per actor (a tick that finds one in
flight is skipped: the refresh under way is the newer news); the writer role still lapses at
``ttl - safety margin`` by the monotonic clock whatever the witness does (``acting()`` never
waits on it); a child task that fails unexpectedly is answered as an unavailable witness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from continuum.actors.continuum.leasing import advance, call_witness, lease_snapshot, settled
from continuum.actors.continuum.messages import WitnessReplied
from continuum.core import lease as rule

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["RefreshInFlight", "begin_refresh", "continue_refresh"]


class RefreshInFlight:
    """Whether a timer-driven refresh is waiting on the witness."""

    def __init__(self) -> None:
        self.waiting = False


async def begin_refresh(actor: ContinuumActor) -> bool:
    """Start a refresh. Returns ``True`` when it finished at once (no witness call was
    needed), ``False`` when a call is under way or one already was."""
    if actor.refresh.waiting:
        return False
    clock = actor.clock
    actor.lease_state = lease_snapshot(actor)
    return await _step(actor, rule.RefreshDue(now=clock.monotonic(), wall=clock.now()))


async def continue_refresh(
    actor: ContinuumActor, event: rule.WitnessAnswered | rule.WitnessRefused
) -> bool:
    """Continue the refresh with the witness's answer. Returns ``True`` when it is over."""
    actor.refresh.waiting = False
    return await _step(actor, event)


async def _step(actor: ContinuumActor, event: rule.Event) -> bool:
    call = await advance(actor, event)
    if call is None:
        settled(actor)
        return True
    actor.refresh.waiting = True
    clock = actor.clock

    async def ask_witness() -> rule.Event:
        return await call_witness(actor, call)

    def failed(exc: BaseException) -> WitnessReplied:
        return WitnessReplied(
            event=rule.WitnessRefused(
                op=call.op,
                refusal="unavailable",
                error=str(exc) or type(exc).__name__,
                now=clock.monotonic(),
                wall=clock.now(),
            )
        )

    def answered(ev: rule.Event) -> WitnessReplied:
        assert isinstance(ev, rule.WitnessAnswered | rule.WitnessRefused)
        return WitnessReplied(event=ev)

    actor.ctx.start_child(ask_witness, on_result=answered, on_error=failed, name="witness")
    return False
