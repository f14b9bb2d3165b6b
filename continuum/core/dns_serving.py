"""Whether PowerDNS *serves* the lease holder: a pure rule, apart from convergence.

Convergence (:mod:`continuum.core.converge`) compares the records the writer holds with the
holder: ``DnsMismatch`` when they do not name it first, and it rewrites them. Records that
agree can still be *answered* with the standby group: ``ifurlup`` answers its second group
while the health URL of the first (the holder's) fails. That is PowerDNS doing its job, not a
mismatch — rewriting the records would change nothing — so it is observed and reported as its
own condition (``DnsServesHolder``), never converged (issue 13, ``docs/decisions.md`` #21).

:func:`decide` folds one observation's authoritative answers into :class:`ServingState`:

* only hostnames whose records agree with the holder are judged (``records_wrong``: the
  others are ``DnsMismatch``'s); records that could not be read (``None``) judge nothing;
* an answer *falls back* when it holds addresses, none of them the holder's, and at least
  one of another region of the pair (an empty or unrecognised answer says nothing);
* a hostname is reported falling back only once two consecutive observations saw it so
  (``ifurlup`` answers arbitrarily until pdns has health-checked the URL once; one odd
  answer never flips the phase) or it was already reported; a fallback seen for the first
  time changes nothing yet; the report clears on the first observation in which no answer
  falls back;
* no verdict (the last one stands) when nothing could be judged: no answer read, records
  unreadable, a switchover of this instance under way, or DNS not observed at all.

Never does I/O, never reads a clock, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

__all__ = [
    "REASON_AGREES",
    "REASON_FALLBACK",
    "ServedAnswer",
    "ServingFallback",
    "ServingQuery",
    "ServingState",
    "ServingVerdict",
    "decide",
    "fallbacks",
]

REASON_AGREES = "AnswersHolder"
"""``DnsServesHolder=True``: every answer read names the holder's addresses."""
REASON_FALLBACK = "ServingFallback"
"""``DnsServesHolder=False``: records name the holder, the served answer is another group."""


class ServedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What authoritative ``server`` answered for ``hostname`` (A records); ``error`` when it
    did not answer (then ``addresses`` is empty and means nothing)."""

    hostname: str
    server: str
    addresses: tuple[str, ...] = ()
    error: str = ""


class ServingQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What the answers are judged against: the ``holder``, each region's load-balancer
    addresses (``spec.regions[].lbIPs``), the hostnames of the records and the health URL
    the holder's group is probed at (the records' ``ifurlup`` URL)."""

    holder: str
    region_ips: Mapping[str, tuple[str, ...]]
    hostnames: tuple[str, ...]
    health_url: str


class ServingFallback(msgspec.Struct, frozen=True, kw_only=True):
    """``server`` answers ``hostname`` with ``addresses`` (of ``regions``), not the holder's,
    while the records name the holder first."""

    hostname: str
    server: str
    addresses: tuple[str, ...]
    regions: tuple[str, ...]

    def describe(self, *, holder: str, health_url: str) -> str:
        return (
            f"{self.hostname} served {', '.join(self.addresses)} ({', '.join(self.regions)}'s "
            f"group) by {self.server}: the records name {holder} first, its health URL "
            f"{health_url} fails"
        )


class ServingVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """The ``DnsServesHolder`` condition to write."""

    serving: bool
    reason: str
    message: str


class ServingState(msgspec.Struct, frozen=True, kw_only=True):
    """What the rule remembers between observations, for one ``holder``."""

    holder: str = ""
    suspect: frozenset[str] = frozenset()
    """Hostnames the last judged observation saw falling back."""
    reported: tuple[ServingFallback, ...] = ()
    """The fallbacks reported now (empty: serving the holder, or no verdict yet)."""

    @property
    def falling_back(self) -> bool:
        return bool(self.reported)


def _region_of(address: str, region_ips: Mapping[str, tuple[str, ...]]) -> str:
    return next((r for r, ips in region_ips.items() if address in ips), "")


def fallbacks(
    query: ServingQuery, answers: Sequence[ServedAnswer], *, records_wrong: Sequence[str]
) -> tuple[tuple[ServingFallback, ...], bool]:
    """The answers falling back (the first per hostname, in ``query.hostnames`` order), and
    whether anything was judged (an answer read for a hostname whose records agree)."""
    holder_ips = set(query.region_ips.get(query.holder, ()))
    wrong = set(records_wrong)
    found: dict[str, ServingFallback] = {}
    judged = False
    for answer in answers:
        if answer.error or answer.hostname in wrong or answer.hostname not in query.hostnames:
            continue
        judged = True
        if answer.hostname in found or not answer.addresses:
            continue
        if holder_ips & set(answer.addresses):
            continue
        regions = sorted(
            {r for a in answer.addresses if (r := _region_of(a, query.region_ips))} - {query.holder}
        )
        if regions:
            found[answer.hostname] = ServingFallback(
                hostname=answer.hostname,
                server=answer.server,
                addresses=answer.addresses,
                regions=tuple(regions),
            )
    ordered = tuple(found[h] for h in query.hostnames if h in found)
    return ordered, judged


def decide(
    state: ServingState,
    query: ServingQuery | None,
    answers: Sequence[ServedAnswer] | None,
    *,
    records_wrong: Sequence[str] | None,
    run_under_way: bool,
) -> tuple[ServingState, ServingVerdict | None]:
    """One observation (module docstring). Returns the new state and the verdict to write
    (``None``: no verdict, the last one stands). A new holder starts afresh."""
    if query is None or answers is None or records_wrong is None or run_under_way:
        return state, None
    if state.holder != query.holder:
        state = ServingState(holder=query.holder)
    found, judged = fallbacks(query, answers, records_wrong=records_wrong)
    if not judged:
        return state, None
    known = state.suspect | {f.hostname for f in state.reported}
    confirmed = tuple(f for f in found if f.hostname in known)
    suspect = frozenset(f.hostname for f in found)
    if found and not confirmed:
        # Seen once: not yet reported, and not a reason to clear a report either.
        return msgspec.structs.replace(state, suspect=suspect), None
    state = ServingState(holder=query.holder, suspect=suspect, reported=confirmed)
    if confirmed:
        message = "; ".join(
            f.describe(holder=query.holder, health_url=query.health_url) for f in confirmed
        )
        return state, ServingVerdict(serving=False, reason=REASON_FALLBACK, message=message)
    return state, ServingVerdict(
        serving=True,
        reason=REASON_AGREES,
        message=f"the authoritative answers name {query.holder}'s addresses",
    )
